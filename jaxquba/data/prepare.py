"""Prepare a dataset for jaxquba: ``python -m jaxquba.data.prepare --dataset=SPEC [--data_dir=DIR] [--local_copy=PATH]``.

Writes the tfds array_record files that :func:`jaxquba.data.registry.open_source` reads. Examples::

  # model-vs-human and ImageNet-9: downloaded from their public releases, or built offline from a local copy
  python -m jaxquba.data.prepare --dataset=mvh_cue_conflict --data_dir=~/tfds
  python -m jaxquba.data.prepare --dataset=mvh_cue_conflict --data_dir=~/tfds --local_copy=~/texture-vs-shape/stimuli/style-transfer-preprocessed-512
  python -m jaxquba.data.prepare --dataset=imagenet9:mixed_rand --data_dir=~/tfds --local_copy=~/downloads   # holds backgrounds_challenge_data.tar.gz
  # tfds catalogue datasets (tfds's own builders need `pip install tensorflow-cpu` while preparing)
  python -m jaxquba.data.prepare --dataset=imagenet_r --data_dir=~/tfds
  python -m jaxquba.data.prepare --dataset=imagenet2012 --data_dir=~/tfds --local_copy=~/imagenet   # holds ILSVRC2012_img_val.tar

``--local_copy`` becomes tfds's manual_dir: the folder with manually downloaded archives (ImageNet), or a copy of
a release (model-vs-human, ImageNet-9: the extracted folder, or the folder holding the archive). For ``folder:``
specs there is nothing to prepare.
"""

from __future__ import annotations

from pathlib import Path

from absl import app, flags

from jaxquba.data.registry import FOLDER_PREFIX, known_specs, resolve
from jaxquba.errors import UserError, run_cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The CLI's flags, defined only when it runs (``--data_dir`` is also the app's flag, and a process may import
    both modules)."""
    flags.DEFINE_string("dataset", None, "Dataset spec to prepare, e.g. " + ", ".join(known_specs()[:4]) + ".")
    flags.DEFINE_string("data_dir", None, "tfds data dir to write to (default: tfds's, $TFDS_DATA_DIR).")
    flags.DEFINE_string("local_copy", None, "Folder with a local copy of the data (tfds manual_dir).")


def prepare(spec: str, data_dir: str | None = None, local_copy: str | None = None) -> str:
    """Builds the tfds dataset a spec names into ``data_dir`` (array_record); returns where it was written."""
    import tensorflow_datasets as tfds

    if spec.startswith(FOLDER_PREFIX):
        raise UserError(f"{spec!r} is read directly from the folder; there is nothing to prepare.")
    resolved = resolve(spec, data_dir)
    manual_dir = None
    if local_copy is not None:
        manual_dir = Path(local_copy).expanduser()
        if not manual_dir.is_dir() or not any(manual_dir.iterdir()):
            raise UserError(f"--local_copy={local_copy} is not a folder with files in it.")
    builder = tfds.builder(resolved.tfds_name, data_dir=data_dir, file_format="array_record")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return str(builder.data_path)


def main(argv):
    del argv
    if not FLAGS.dataset:
        raise UserError("--dataset is required, e.g. --dataset=mvh_cue_conflict. Known: " + ", ".join(known_specs()))
    path = prepare(FLAGS.dataset, FLAGS.data_dir, FLAGS.local_copy)
    print(f"prepared {FLAGS.dataset} in {path}")


if __name__ == "__main__":
    define_flags()
    app.run(lambda argv: run_cli(lambda: main(argv)))
