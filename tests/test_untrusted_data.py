"""Folder datasets are user input: labels checked, duplicates and bad images reported, every image mode decoded as
the reference loader (timm's ``Image.open(f).convert('RGB')``) or refused, contents fingerprinted."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

from jaxquba.data.folder import MIN_IMAGE_SIDE, FolderSource, decode_image
from jaxquba.errors import UserError


def _photo(seed=0, size=(40, 30)):
    """A smooth RGB test picture (a JPEG of noise would be mostly artefacts)."""
    y, x = np.mgrid[0:size[1], 0:size[0]]
    rng = np.random.default_rng(seed)
    channels = [np.sin(x / rng.uniform(3, 9) + c) * np.cos(y / rng.uniform(3, 9)) for c in range(3)]
    return ((np.stack(channels, -1) + 1) * 127.5).astype(np.uint8)


def _labelled_folder(tmp_path, rows, images):
    for name, pixels in images.items():
        Image.fromarray(pixels).save(tmp_path / name)
    (tmp_path / "labels.csv").write_text("file,class_index\n" + "".join(f"{f},{c}\n" for f, c in rows))
    return tmp_path


def test_negative_and_non_integer_labels_name_the_rows(tmp_path):
    _labelled_folder(tmp_path, [("a.png", 3), ("b.png", -1)], {"a.png": _photo(0), "b.png": _photo(1)})
    with pytest.raises(UserError, match=r"line 3 \('-1'\)"):
        FolderSource(tmp_path)
    (tmp_path / "labels.csv").write_text("file,class_index\na.png,3\nb.png,cat\n")
    with pytest.raises(UserError, match=r"line 3 \('cat'\)"):
        FolderSource(tmp_path)


def test_duplicate_rows_counted_once_and_reported_conflicting_ones_refused(tmp_path):
    _labelled_folder(tmp_path, [("a.png", 3), ("b.png", 4), ("a.png", 3)], {"a.png": _photo(0), "b.png": _photo(1)})
    source = FolderSource(tmp_path)
    assert len(source) == 2 and [source[i]["label"] for i in range(2)] == [3, 4]
    assert source.skipped == [("a.png", "listed again on line 4 of labels.csv (counted once, from line 2)")]
    (tmp_path / "labels.csv").write_text("file,class_index\na.png,3\nb.png,4\na.png,5\n")
    with pytest.raises(UserError, match=r"a.png \(line 2: 3, line 4: 5\)"):
        FolderSource(tmp_path)


def test_label_outside_the_models_classes_is_named(tmp_path):
    _labelled_folder(tmp_path, [("a.png", 3), ("b.png", 1000)], {"a.png": _photo(0), "b.png": _photo(1)})
    source = FolderSource(tmp_path)
    assert source.num_classes == 1001 and source.labels_outside(1000) == ["b.png: 1000"]


def test_bad_images_are_skipped_with_file_and_reason(tmp_path):
    good = _photo(0)
    jpeg = io.BytesIO()
    Image.fromarray(_photo(1, (64, 48))).save(jpeg, "JPEG")
    (tmp_path / "truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image at all")
    images = {"good.png": good, "tiny.png": _photo(2, (1, 1)), "thin.png": _photo(3, (MIN_IMAGE_SIDE - 1, 50)),
              "edge.png": _photo(4, (MIN_IMAGE_SIDE, MIN_IMAGE_SIDE))}
    names = ["good.png", "truncated.jpg", "empty.jpg", "text.png", "tiny.png", "thin.png", "edge.png"]
    _labelled_folder(tmp_path, [(n, i) for i, n in enumerate(names)], images)
    source = FolderSource(tmp_path)
    assert [source[i]["id"] for i in range(len(source))] == ["good.png", "edge.png"]
    assert [source[i]["label"] for i in range(len(source))] == [0, 6]
    reasons = dict(source.skipped)
    assert set(reasons) == {"truncated.jpg", "empty.jpg", "text.png", "tiny.png", "thin.png"}
    assert "truncated" in reasons["truncated.jpg"].lower() and "cannot be decoded" in reasons["empty.jpg"]
    assert "cannot be decoded" in reasons["text.png"]
    assert reasons["tiny.png"].startswith("1x1 pixels, smaller than the minimum")
    assert reasons["thin.png"].startswith(f"{MIN_IMAGE_SIDE - 1}x50 pixels")


def test_folder_of_only_bad_images_is_an_error(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "labels.csv").write_text("file,class_index\na.jpg,1\n")
    with pytest.raises(UserError, match="none of its 1 images can be used"):
        FolderSource(tmp_path)


def test_sixteen_bit_grey_png_scales_to_eight_bits(tmp_path):
    """An 8-bit picture stored as 16 bits (v * 257, the exact 8->16 widening) decodes back to exactly the 8-bit
    values; Pillow's own convert('RGB') would clip all but the darkest pixels to 255."""
    grey8 = _photo(0)[..., 0]
    path = tmp_path / "deep.png"
    Image.fromarray(grey8.astype(np.uint16) * 257).save(path)
    with Image.open(path) as img:
        assert img.mode.startswith("I;16")
        assert (np.asarray(img.convert("RGB")) == 255).mean() > 0.9  # the saturation this decoder avoids
    np.testing.assert_array_equal(decode_image(path), np.repeat(grey8[..., None], 3, axis=2))


@pytest.mark.parametrize("mode,suffix", [("P", ".png"), ("CMYK", ".tiff"), ("L", ".png"), ("LA", ".png"),
                                         ("RGBA", ".png"), ("1", ".png")])
def test_other_modes_decode_as_timms_loader(tmp_path, mode, suffix):
    """Palette, CMYK, grey, alpha and bilevel images: exactly timm's loader, ``Image.open(f).convert('RGB')``."""
    rgba = np.concatenate([_photo(0), _photo(1)[..., :1]], axis=-1)
    path = tmp_path / f"img{suffix}"
    Image.fromarray(rgba).convert(mode).save(path)
    with Image.open(path) as img:
        assert img.mode == mode
        reference = np.asarray(img.convert("RGB"))
    got = decode_image(path)
    assert got.dtype == np.uint8 and got.shape == rgba.shape[:2] + (3,)
    np.testing.assert_array_equal(got, reference)


def test_float_and_32_bit_images_are_refused(tmp_path):
    path = tmp_path / "float.tiff"
    Image.fromarray(_photo(0)[..., 0].astype(np.float32) * 3.5).save(path)
    with pytest.raises(UserError, match="mode F .* has no standard 8-bit reading"):
        decode_image(path)
    _labelled_folder(tmp_path, [("ok.png", 1), ("float.tiff", 2)], {"ok.png": _photo(0)})
    assert [f for f, _ in FolderSource(tmp_path).skipped] == ["float.tiff"]


def test_fingerprint_follows_labels_and_images(tmp_path):
    _labelled_folder(tmp_path, [("a.png", 3), ("b.png", 4)], {"a.png": _photo(0), "b.png": _photo(1)})
    first = FolderSource(tmp_path).fingerprint
    assert FolderSource(tmp_path).fingerprint == first  # stable while nothing changes
    (tmp_path / "labels.csv").write_text("file,class_index\na.png,999\nb.png,999\n")
    relabelled = FolderSource(tmp_path).fingerprint
    assert relabelled != first
    Image.fromarray(_photo(7)).save(tmp_path / "a.png")
    os.utime(tmp_path / "a.png", ns=(1, 1))
    assert FolderSource(tmp_path).fingerprint not in (first, relabelled)


def test_tfds_fingerprint_follows_the_prepared_files(tmp_path):
    """name, version, split and each prepared file of the split (name, size, mtime); other splits' files ignored."""
    import types

    from etils import epath

    from jaxquba.data.tfds_sources import _prepared_fingerprint
    (tmp_path / "imagenet_a-test.array_record-00000-of-00001").write_bytes(b"x" * 10)
    (tmp_path / "imagenet_a-train.array_record-00000-of-00001").write_bytes(b"y")
    (tmp_path / "dataset_info.json").write_text("{}")
    builder = types.SimpleNamespace(info=types.SimpleNamespace(full_name="imagenet_a/0.1.0", version="0.1.0"),
                                    data_path=epath.Path(tmp_path))
    first = _prepared_fingerprint(builder, "test")
    assert _prepared_fingerprint(builder, "test") == first and _prepared_fingerprint(builder, "train") != first
    (tmp_path / "imagenet_a-train.array_record-00000-of-00001").write_bytes(b"yy")
    assert _prepared_fingerprint(builder, "test") == first
    (tmp_path / "imagenet_a-test.array_record-00000-of-00001").write_bytes(b"x" * 11)
    resized = _prepared_fingerprint(builder, "test")
    assert resized != first
    builder.info.version = "0.2.0"
    assert _prepared_fingerprint(builder, "test") not in (first, resized)
