"""Reductions of the generalization study's benchmarks to their published numbers (PROTOCOLS.md P2.2), in percent.

* top-1 on ImageNet, ImageNet-v2, Sketch and the PGD-40 images: 100 x :func:`jaxquba.metrics.accuracy.top_k_accuracy`;
* ImageNet-A / ImageNet-R: top-1 with the argmax restricted to the 200 classes (the prediction is a 1k index);
* ImageNet-C: unweighted mean of the 19 x 5 per-(corruption, severity) accuracies (:func:`corruption_mean`);
* ImageNet-C-bar: the same over its 10 x 5;
* stylized: 16-class accuracy of the model-vs-human decision.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from jaxquba.errors import UserError
from jaxquba.views.corruptions import SEVERITIES

# The study's own list (P2 uses all 19: the 15 common ones and the 4 extra), in the release's order; QUBA's C-Rob
# names its 15 in jaxquba.metrics.robustness.CORRUPTIONS.
IMAGENET_C_CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
    "speckle_noise", "gaussian_blur", "spatter", "saturate")
IMAGENET_CBAR_CORRUPTIONS: tuple[str, ...] = (
    "blue_noise_sample", "brownish_noise", "caustic_refraction", "checkerboard_cutout", "cocentric_sine_waves",
    "inverse_sparkles", "perlin_noise", "plasma_noise", "single_frequency_greyscale", "sparkles")


def corruption_mean(accuracies: Mapping[tuple[str, int], float], corruptions: Sequence[str],
                    severities: Sequence[int] = SEVERITIES) -> float:
    """Unweighted mean over every (corruption, severity); all of them must be present."""
    missing = [(c, s) for c in corruptions for s in severities if (c, s) not in accuracies]
    if missing:
        raise UserError(f"corruption mean needs all {len(corruptions)} x {len(severities)} accuracies; missing "
                        f"{missing[:4]}{'...' if len(missing) > 4 else ''}")
    return float(np.mean([accuracies[(c, s)] for c in corruptions for s in severities]))
