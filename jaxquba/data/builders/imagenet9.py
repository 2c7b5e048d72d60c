"""tfds builder for ImageNet-9 and its background variations (Xiao et al. 2020, the Backgrounds Challenge).

The release ``backgrounds_challenge_data.tar.gz`` extracts to ``bg_challenge/<variation>/val/<class>/<image>``
with 9 class folders (dog, bird, vehicle, reptile, carnivore, insect, instrument, primate, fish). The label is the
class folder's position in sorted order (0..8), as torchvision's ``ImageFolder`` gives it in the authors'
evaluation code. Each variation (``original``, ``mixed_same``, ``mixed_rand``, ...) is a config with one split,
``validation``; examples are in sorted relative-path order and ``file_name`` is the path below ``val/``.

Offline, ``manual_dir`` is a local copy: the folder containing ``backgrounds_challenge_data.tar.gz``, the extracted
``bg_challenge`` folder, or the folder containing it.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow_datasets as tfds

from jaxquba.data.builders.release_files import image_files, release_folder, rgb_bytes

RELEASE_URL = "https://github.com/MadryLab/backgrounds_challenge/releases/download/data/backgrounds_challenge_data.tar.gz"
TOP_FOLDER = "bg_challenge"
NUM_CLASSES = 9
SPLIT = "validation"

VARIATIONS = {
    "original": "The unmodified ImageNet-9 images.",
    "mixed_same": "Foreground on the background of another image of the same class.",
    "mixed_rand": "Foreground on the background of a random image.",
    "mixed_next": "Foreground on the background of an image of the next class.",
    "no_fg": "Foreground object cut out (left black), background kept.",
    "only_fg": "Foreground on a black background.",
    "only_bg_b": "Background only: the foreground bounding box blacked out.",
    "only_bg_t": "Background only: the foreground bounding box filled with tiled background.",
}


class Imagenet9(tfds.core.GeneratorBasedBuilder):
    """ImageNet-9 Backgrounds Challenge test sets, 9 classes."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=name, description=text) for name, text in VARIATIONS.items()]
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Optional (offline): the folder holding the archive {RELEASE_URL}, or the extracted {TOP_FOLDER}/ "
        "folder, or the folder containing it.")

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.ClassLabel(num_classes=NUM_CLASSES),
                "file_name": tfds.features.Text(),
            }),
            supervised_keys=("image", "label"),
            disable_shuffling=True,  # keep the sorted generation order (the documented example order)
            homepage="https://github.com/MadryLab/backgrounds_challenge",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        return {SPLIT: self._generate_examples(_release_root(dl_manager) / self.builder_config.name / "val")}

    def _generate_examples(self, val_dir: Path):
        val_dir = Path(val_dir)
        classes = sorted(p.name for p in val_dir.iterdir() if p.is_dir()) if val_dir.is_dir() else []
        if len(classes) != NUM_CLASSES:
            raise FileNotFoundError(f"expected {NUM_CLASSES} class folders in {val_dir}, found {classes}")
        for label, name in enumerate(classes):
            for path in image_files(val_dir / name):
                rel = path.relative_to(val_dir).as_posix()
                yield rel, {"image": rgb_bytes(path), "label": label, "file_name": rel}


def _release_root(dl_manager: tfds.download.DownloadManager) -> Path:
    """The ``bg_challenge`` folder (local copy or download, see the module docstring)."""
    unpacked = release_folder(dl_manager, RELEASE_URL)
    return unpacked / TOP_FOLDER if (unpacked / TOP_FOLDER).is_dir() else unpacked
