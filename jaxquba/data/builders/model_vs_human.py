"""tfds builder for the model-vs-human OOD sets (Geirhos et al. 2021), labelled in the 16-class space.

Configs ``cue_conflict``, ``edge``, ``silhouette``, ``sketch`` and ``stylized`` are the release archives
``https://github.com/bethgelab/model-vs-human/releases/download/v0.1/<release>.tar.gz``. Two layouts occur:

* cue-conflict, edge, silhouette: ``<release>/<category>/<file>`` -- the folder is the label. Cue-conflict file
  names are ``<shape><n>-<texture><m>.png``: the folder is the shape category, the second part minus its digits is
  the texture category (extras ``shape_label``, ``texture_label``).
* sketch, stylized: ``<release>/dnn/session-1/<a>_<b>_<c>_<condition>_<category>_<rest>`` -- the fifth
  ``_``-separated field of the file name is the label (model-vs-human's ``InfoMappingWithSessions``).

Offline, ``manual_dir`` is a local copy: the extracted ``<release>`` folder, a folder containing it, or a folder
containing ``<release>.tar.gz``. Examples are in sorted relative-path order; ``file_name`` is that relative path.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import tensorflow_datasets as tfds

from jaxquba.data.builders.release_files import image_files, release_folder, rgb_bytes

RELEASE_URL = "https://github.com/bethgelab/model-vs-human/releases/download/v0.1/{release}.tar.gz"

# The 16 entry-level categories in alphabetical order: the model-vs-human decision space, index = label.
CATEGORIES = ("airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat", "chair", "clock", "dog",
              "elephant", "keyboard", "knife", "oven", "truck")

SPLIT = "test"


@dataclasses.dataclass
class MvhConfig(tfds.core.BuilderConfig):
    release: str = ""  # the archive's base name in the v0.1 release
    cue_conflict: bool = False  # file names carry a texture category


def category_of(relative_path: str) -> str:
    """The 16-class category of a release file, from its folder or (session layout) its file name."""
    parts = relative_path.split("/")
    if len(parts) >= 2 and parts[-2] in CATEGORIES:
        return parts[-2]
    fields = parts[-1].split("_")
    if len(fields) >= 6 and fields[4] in CATEGORIES:
        return fields[4]
    raise ValueError(f"cannot tell the 16-class category of {relative_path!r}: neither its folder nor the 5th "
                     "'_'-field of its name is one of " + ", ".join(CATEGORIES))


def texture_of(file_name: str) -> str:
    """The texture category of a cue-conflict file ``<shape><n>-<texture><m>.<ext>``."""
    texture = re.sub(r"\d+$", "", Path(file_name).stem.rsplit("-", 1)[-1])
    if texture not in CATEGORIES:
        raise ValueError(f"cue-conflict file {file_name!r} does not end in '-<texture><n>' with a 16-class texture")
    return texture


class ModelVsHuman(tfds.core.GeneratorBasedBuilder):
    """model-vs-human OOD stimuli with 16-class labels."""

    VERSION = tfds.core.Version("0.1.0")  # mirrors the release tag v0.1
    BUILDER_CONFIGS = [
        MvhConfig(name="cue_conflict", release="cue-conflict", cue_conflict=True,
                  description="Texture-shape cue-conflict stimuli (label = shape)."),
        MvhConfig(name="edge", release="edge", description="Edge drawings of objects."),
        MvhConfig(name="silhouette", release="silhouette", description="Filled object silhouettes."),
        MvhConfig(name="sketch", release="sketch", description="Hand-drawn sketches."),
        MvhConfig(name="stylized", release="stylized", description="Style-transferred photographs."),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Optional (offline): a local copy of the release: the extracted <release> folder (e.g. cue-conflict/), a "
        "folder containing it, or a folder containing <release>.tar.gz from " + RELEASE_URL)

    def _info(self) -> tfds.core.DatasetInfo:
        label = tfds.features.ClassLabel(names=CATEGORIES)
        features = {"image": tfds.features.Image(shape=(None, None, 3)), "label": label, "file_name": tfds.features.Text()}
        if self.builder_config.cue_conflict:
            features.update(shape_label=label, texture_label=label)
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(features),
            supervised_keys=("image", "label"),
            disable_shuffling=True,  # keep the sorted generation order (the documented example order)
            homepage="https://github.com/bethgelab/model-vs-human",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        release = self.builder_config.release
        return {SPLIT: self._generate_examples(_release_root(dl_manager, release))}

    def _generate_examples(self, root: Path):
        root = Path(root)
        files = image_files(root)
        if not files:
            raise FileNotFoundError(f"no images under {root}")
        for path in files:
            rel = path.relative_to(root).as_posix()
            example = {"image": rgb_bytes(path), "label": category_of(rel), "file_name": rel}
            if self.builder_config.cue_conflict:
                example.update(shape_label=example["label"], texture_label=texture_of(rel))
            yield rel, example


def _release_root(dl_manager: tfds.download.DownloadManager, release: str) -> Path:
    """The folder holding the release's images (local copy or download, see the module docstring)."""
    return _inside(release_folder(dl_manager, RELEASE_URL.format(release=release)), release)


def _inside(folder: Path, release: str) -> Path:
    """``folder/<release>`` (or its underscore spelling) where present, else ``folder`` itself."""
    for name in (release, release.replace("-", "_")):
        if (folder / name).is_dir():
            return folder / name
    return folder
