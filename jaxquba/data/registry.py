"""Dataset specs -> sources: ``open_source('imagenet_r')``, ``open_source('folder:/data/val')``, ...

Spec grammar:

* ``demo`` -- eight photos shipped inside installed wheels, with ImageNet labels (:mod:`jaxquba.data.demo`).
* ``folder:PATH`` -- images in a folder (:mod:`jaxquba.data.folder`).
* ``NAME[/CONFIG][:SPLIT]`` -- a dataset of the tfds catalogue: ``imagenet2012`` (validation), ``imagenet_v2``
  (``matched-frequency``), ``imagenet2012_real``, ``imagenet_a``, ``imagenet_r``, ``imagenet_sketch``,
  ``imagenet2012_multilabel``, ``imagenet2012_corrupted/<corruption>_<severity>``. The split defaults to the
  evaluation split (``validation`` or ``test``).
* ``mvh_<set>`` -- model-vs-human ``cue_conflict``, ``edge``, ``silhouette``, ``sketch``, ``stylized``
  (16-class labels; :mod:`jaxquba.data.builders.model_vs_human`).
* ``imagenet9:<variation>`` -- ImageNet-9 ``original``, ``mixed_same``, ``mixed_rand``, ... (labels 0..8;
  :mod:`jaxquba.data.builders.imagenet9`).

A source's ``name`` is its canonical spec (split and config written out), the key under which results are stored.
Datasets that are not prepared raise :class:`UserError` naming the dataset and the command that prepares it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import tensorflow_datasets as tfds

from jaxquba.data import demo
from jaxquba.data.base import Source
from jaxquba.data.builders import imagenet9, model_vs_human
from jaxquba.data.folder import FolderSource
from jaxquba.data.tfds_sources import TfdsLayout, TfdsSource
from jaxquba.errors import UserError, closest

FOLDER_PREFIX = "folder:"
MVH_PREFIX = "mvh_"
IMAGENET9 = "imagenet9"
PREPARE = "python -m jaxquba.data.prepare"
IMAGENET_VAL_TAR = "ILSVRC2012_img_val.tar"


@dataclasses.dataclass(frozen=True)
class DatasetEntry:
    """A dataset of the tfds catalogue that jaxquba knows how to read.

    Attributes:
      split: the evaluation split used when a spec names none.
      default_config: the config used when a spec names none; builders with configs and no default need one.
      manual: True where tfds needs the ImageNet validation tar in a manual folder (no public download).
    """

    split: str
    layout: TfdsLayout = TfdsLayout()
    default_config: str | None = None
    manual: bool = False


_MULTI = "_multi_labels"
CATALOGUE: dict[str, DatasetEntry] = {
    "imagenet2012": DatasetEntry("validation", manual=True),
    "imagenet_v2": DatasetEntry("test", default_config="matched-frequency"),
    "imagenet2012_real": DatasetEntry(
        "validation", TfdsLayout(label_key="original_label", extras=(("real_label", "real_labels"),)), manual=True),
    "imagenet_a": DatasetEntry("test"),  # tfds labels ImageNet-A/R in the 1000-class space
    "imagenet_r": DatasetEntry("test"),
    "imagenet_sketch": DatasetEntry("test"),
    "imagenet2012_multilabel": DatasetEntry(
        "validation",
        TfdsLayout(label_key="original_label",
                   extras=tuple((f"{kind}{_MULTI}", f"{kind}{_MULTI}") for kind in ("correct", "wrong", "unclear"))
                   + (("is_problematic", "is_problematic"),)),
        manual=True),
    "imagenet2012_corrupted": DatasetEntry("validation", manual=True),  # tfds regenerates the corruptions
}

_MVH_CONFIGS = {c.name: c for c in model_vs_human.ModelVsHuman.BUILDER_CONFIGS}
_MVH_CUE_EXTRAS = (("shape_label", "shape_label"), ("texture_label", "texture_label"))
_IN9_LAYOUT = TfdsLayout(num_classes=imagenet9.NUM_CLASSES)


@dataclasses.dataclass(frozen=True)
class ResolvedSpec:
    """A parsed tfds-backed spec: the canonical name, what tfds reads, and how to prepare it."""

    name: str
    tfds_name: str  # builder[/config]
    split: str
    layout: TfdsLayout
    prepare_hint: str


def known_specs() -> list[str]:
    """Example specs of every dataset family (for help texts and 'did you mean' hints)."""
    return ([demo.NAME, *CATALOGUE, "imagenet2012_corrupted/gaussian_noise_3"] + [MVH_PREFIX + n for n in _MVH_CONFIGS]
            + [f"{IMAGENET9}:{v}" for v in imagenet9.VARIATIONS] + [FOLDER_PREFIX + "PATH"])


def resolve(spec: str, data_dir: str | None = None) -> ResolvedSpec:
    """Parses a tfds-backed spec (everything but ``folder:``); unknown names raise UserError with hints."""
    dd = f" --data_dir={data_dir}" if data_dir else ""
    if spec.startswith(MVH_PREFIX):
        config = spec[len(MVH_PREFIX):]
        _check_choice(config, list(_MVH_CONFIGS), "model-vs-human set", spec)
        mvh = _MVH_CONFIGS[config]
        layout = TfdsLayout(num_classes=len(model_vs_human.CATEGORIES),
                            extras=_MVH_CUE_EXTRAS if mvh.cue_conflict else ())
        url = model_vs_human.RELEASE_URL.format(release=mvh.release)
        return ResolvedSpec(spec, f"model_vs_human/{config}", model_vs_human.SPLIT, layout, _custom_hint(spec, dd, url))
    if spec == IMAGENET9 or spec.startswith(IMAGENET9 + ":"):
        variation = spec.partition(":")[2]
        _check_choice(variation, list(imagenet9.VARIATIONS), "ImageNet-9 variation", spec)
        return ResolvedSpec(spec, f"{IMAGENET9}/{variation}", imagenet9.SPLIT, _IN9_LAYOUT,
                            _custom_hint(spec, dd, imagenet9.RELEASE_URL))
    base, _, split = spec.partition(":")
    name, _, config = base.partition("/")
    if name not in CATALOGUE:
        hints = closest(spec, known_specs())
        raise UserError(f"unknown dataset {spec!r}." + (f" Did you mean: {', '.join(hints)}?" if hints else "")
                        + " Known: " + ", ".join(known_specs()) + ".")
    entry = CATALOGUE[name]
    config = config or entry.default_config or ""
    configs = [c.name for c in tfds.builder_cls(name).BUILDER_CONFIGS]
    if configs and not config:
        raise UserError(f"dataset {name!r} needs a config, {name}/CONFIG, one of: {', '.join(configs)}.")
    if config and not configs:
        raise UserError(f"dataset {name!r} has no configs; drop '/{config}' from {spec!r}.")
    if config:
        _check_choice(config, configs, f"{name} config", spec)
    tfds_name = f"{name}/{config}" if config else name
    split = split or entry.split
    canonical = f"{tfds_name}:{split}"
    if entry.manual:
        hint = (f"Download {IMAGENET_VAL_TAR} from https://image-net.org/download.php (free registration) into a "
                f"folder DIR, then run: {PREPARE} --dataset={canonical} --local_copy=DIR{dd} . tfds's ImageNet "
                "builders need TensorFlow while preparing (pip install tensorflow-cpu); reading does not.")
    else:
        hint = (f"Run: {PREPARE} --dataset={canonical}{dd} (downloads it; tfds's builder needs TensorFlow "
                "while preparing: pip install tensorflow-cpu; reading does not).")
    return ResolvedSpec(canonical, tfds_name, split, entry.layout, hint)


def canonical_name(spec: str, data_dir: str | None = None) -> str:
    """The name a source opened from ``spec`` would have, without opening it (so a dataset that is not prepared
    can still be named); unknown specs raise UserError."""
    if spec == demo.NAME:
        return spec
    if spec.startswith(FOLDER_PREFIX):
        return FOLDER_PREFIX + str(Path(spec[len(FOLDER_PREFIX):]).expanduser().resolve())
    return resolve(spec, data_dir).name


def open_source(spec: str, data_dir: str | None = None) -> Source:
    """The source a spec names; ``data_dir`` is the tfds data dir (default: tfds's, ``$TFDS_DATA_DIR``)."""
    if spec == demo.NAME:
        return demo.DemoSource()
    if spec.startswith(FOLDER_PREFIX):
        return FolderSource(spec[len(FOLDER_PREFIX):])
    r = resolve(spec, data_dir)
    return TfdsSource(r.name, r.tfds_name, r.split, r.layout, data_dir, r.prepare_hint)


def example_names(spec: str, count: int, data_dir: str | None = None) -> list[str]:
    """Base file names (the last part of each example's ``id``) of examples [0, count) of a dataset: tfds records
    are read with the image left undecoded; the demo's and folders' through their source."""
    if spec == demo.NAME or spec.startswith(FOLDER_PREFIX):
        source = open_source(spec, data_dir)
        return [Path(_text(source[i]["id"])).name for i in range(count)]
    resolved = resolve(spec, data_dir)
    records = tfds.data_source(resolved.tfds_name, split=resolved.split, data_dir=data_dir, download=False,
                               decoders={"image": tfds.decode.SkipDecoding()})
    key = resolved.layout.id_key
    return [Path(_text(records[i][key])).name for i in range(count)]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _custom_hint(spec: str, dd: str, url: str) -> str:
    return (f"Run: {PREPARE} --dataset={spec}{dd} (downloads {url}); offline, add --local_copy=PATH with a copy "
            "of that release (the extracted folder, or the folder holding the archive). No TensorFlow needed.")


def _check_choice(value: str, choices: list[str], what: str, spec: str) -> None:
    if value not in choices:
        hints = closest(value, choices) if value else []
        raise UserError(f"{spec!r}: unknown {what} {value!r}." + (f" Did you mean {', '.join(hints)}?" if hints else "")
                        + f" Choose one of: {', '.join(choices)}.")
