"""The ImageNet-C release reader: the official folder layout (a dummy tree here) and tfds (mock_data)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from jaxquba.data.folder import imagenet_wnids
from jaxquba.data.imagenet_c import ImageNetCFolderSource, imagenet_c_tfds
from jaxquba.errors import UserError


def write_release(root, wnids, corruption="fog", severity=3, per_class=2):
    for c, wnid in enumerate(wnids):
        folder = root / corruption / str(severity) / wnid
        folder.mkdir(parents=True)
        for k in range(per_class):
            pixels = np.full((224, 224, 3), (c * 7 + k) % 256, np.uint8)
            Image.fromarray(pixels).save(folder / f"ILSVRC2012_val_{c:05d}{k}.JPEG", quality=95)


def test_partial_release_keeps_standard_labels(tmp_path):
    wnids = imagenet_wnids()
    chosen = [wnids[999], wnids[3], wnids[500]]
    write_release(tmp_path, chosen)
    source = ImageNetCFolderSource(tmp_path, "fog", 3)
    assert len(source) == 6 and source.num_classes == 1000
    assert [source[i]["label"] for i in range(6)] == [3, 3, 500, 500, 999, 999]  # sorted wnid, then file
    example = source[2]
    assert example["image"].shape == (224, 224, 3) and example["image"].dtype == np.uint8
    assert example["id"] == f"{wnids[500]}/ILSVRC2012_val_000020.JPEG"


def test_full_release_labels_come_from_the_sorted_folder_listing(tmp_path):
    wnids = imagenet_wnids()
    write_release(tmp_path, wnids, corruption="snow", severity=1, per_class=1)
    source = ImageNetCFolderSource(tmp_path, "snow", 1)
    assert [source[i]["label"] for i in (0, 1, 998, 999)] == [0, 1, 998, 999]
    assert source[999]["id"].startswith(sorted(wnids)[999])


def test_user_errors(tmp_path):
    write_release(tmp_path, [imagenet_wnids()[0]])
    with pytest.raises(UserError, match="release layout.*holds fog"):
        ImageNetCFolderSource(tmp_path, "snow", 3)
    with pytest.raises(UserError, match="did you mean"):
        ImageNetCFolderSource(tmp_path, "fogg", 3)
    (tmp_path / "fog" / "3" / "not_a_wnid").mkdir()
    with pytest.raises(UserError, match="not ImageNet-1k wnids"):
        ImageNetCFolderSource(tmp_path, "fog", 3)


def test_tfds_release_through_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=4):
        source = imagenet_c_tfds("gaussian_blur", 3)
        assert len(source) == 4 and source.num_classes == 1000
        example = source[1]
    assert example["image"].shape == (224, 224, 3) and example["image"].dtype == np.uint8
    assert 0 <= example["label"] < 1000 and isinstance(example["id"], str)
    assert source.name == "imagenet2012_corrupted/gaussian_blur_3:validation"
