"""Host preprocessing: timm's eval transform up to (not including) ToTensor/Normalize, on uint8 arrays.

For ``crop_mode='center'`` timm resizes the shorter side to ``floor(size / crop_pct)`` keeping the aspect ratio
(torchvision ``Resize(int)``: the longer side becomes ``int(new_short * long / short)``), then centre-crops
``size`` x ``size`` with the offsets ``int(round((H - size) / 2))`` (Python's round, as torchvision's
``center_crop``). ``crop_mode='squash'`` resizes both sides to ``floor(size / crop_pct)`` and crops the same way.
Resizing is PIL's ``Image.resize`` with the model's filter -- the call torchvision makes on PIL images, antialiased
(the filter support grows with the downscale factor) -- so the result matches timm's transform. Normalisation
happens inside the model function on the device.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from PIL import Image

from jaxquba.zoo import DataConfig

_PIL_FILTERS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
                "nearest": Image.Resampling.NEAREST}


@dataclasses.dataclass(frozen=True)
class EvalTransform:
    """uint8 (H, W, 3) -> uint8 (size, size, 3). A plain dataclass so it pickles into worker processes."""

    size: int
    scale_size: int
    interpolation: str
    squash: bool

    def __call__(self, image: np.ndarray) -> np.ndarray:
        img = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))  # (H, W, 3) uint8 -> RGB
        img = img.resize(self._resized_wh(*img.size), _PIL_FILTERS[self.interpolation])
        width, height = img.size
        top = int(round((height - self.size) / 2.0))
        left = int(round((width - self.size) / 2.0))
        return np.asarray(img.crop((left, top, left + self.size, top + self.size)))

    @property
    def spec(self) -> str:
        """A short canonical name, part of every stored output's key (e.g. ``short256-bilinear-crop224``)."""
        return f"{'squash' if self.squash else 'short'}{self.scale_size}-{self.interpolation}-crop{self.size}"

    def _resized_wh(self, width: int, height: int) -> tuple[int, int]:
        if self.squash:
            return self.scale_size, self.scale_size
        if width <= height:
            return self.scale_size, int(self.scale_size * height / width)
        return int(self.scale_size * width / height), self.scale_size


def make_eval_transform(data_config: DataConfig) -> EvalTransform:
    """The host half of a model's eval preprocessing (resize + centre crop, uint8 in and out)."""
    if data_config.crop_mode not in ("center", "squash"):
        raise ValueError(f"crop_mode {data_config.crop_mode!r} is not supported (center, squash)")
    if not 0 < data_config.crop_pct <= 1:
        # crop_pct > 1 would make the resized image smaller than the crop (timm then pads); no model uses it.
        raise ValueError(f"crop_pct must be in (0, 1], got {data_config.crop_pct}")
    return EvalTransform(size=data_config.input_size,
                         scale_size=math.floor(data_config.input_size / data_config.crop_pct),
                         interpolation=data_config.interpolation,
                         squash=data_config.crop_mode == "squash")
