"""What the builders share: finding the release (local copy or download), unpacking it, listing and encoding images.

Everything here avoids TensorFlow: tfds's own extractor reads archives through ``tf.io.gfile``, so archives are
unpacked with :mod:`tarfile`, and images go to tfds already encoded so tfds never encodes them with TensorFlow.
"""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

from PIL import Image

from jaxquba.data.folder import is_image_file


def local_copy(dl_manager) -> Path | None:
    """The manual_dir (``--local_copy``, default ``<data_dir>/downloads/manual``) if it exists and is not empty."""
    try:
        return Path(dl_manager.manual_dir)
    except AssertionError:  # tfds' way of saying: no manual_dir, or an empty one
        return None


def release_folder(dl_manager, url: str) -> Path:
    """The unpacked release archive at ``url``: taken from the local copy where one is given, else downloaded.

    The local copy may hold the archive itself (same file name as in the URL), or be an unpacked copy, which is
    returned as it is.
    """
    local = local_copy(dl_manager)
    if local is None:
        archive = Path(dl_manager.download(url))
    elif (local / url.rsplit("/", 1)[-1]).is_file():
        archive = local / url.rsplit("/", 1)[-1]
    else:
        return local
    return extract(archive, Path(dl_manager.download_dir) / "extracted")


def extract(archive: Path, extracted_root: Path) -> Path:
    """Unpacks a tar(.gz) archive once into ``extracted_root/<archive name>`` (kept for later configs)."""
    target = extracted_root / archive.name
    if target.is_dir():
        return target
    partial = extracted_root / (archive.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(partial, filter="data")  # 'data' refuses absolute paths and links out of the folder
    partial.rename(target)  # only a completely unpacked archive gets the final name
    return target


def image_files(root: Path) -> list[Path]:
    """Every image file under ``root``, sorted by relative path (the builders' deterministic order)."""
    return sorted((p for p in root.rglob("*") if is_image_file(p)), key=lambda p: p.relative_to(root).as_posix())


def rgb_bytes(path: Path) -> io.BytesIO:
    """The file's own bytes where it already decodes to RGB; otherwise a lossless RGB PNG of it.

    tfds declares these images as 3-channel; greyscale or RGBA files (edge and silhouette stimuli can be either)
    are converted with PIL's ``convert('RGB')``, the conversion timm's loader applies when it reads them.
    """
    with Image.open(path) as img:
        if img.mode == "RGB":
            return io.BytesIO(path.read_bytes())
        buffer = io.BytesIO()
        img.convert("RGB").save(buffer, format="PNG")
    buffer.seek(0)
    return buffer
