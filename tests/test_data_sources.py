"""Sources: folder layouts, tfds catalogue datasets (tfds mock data), spec parsing, errors, sharding."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from jaxquba.data.base import Source
from jaxquba.data.folder import FolderSource, imagenet_wnids
from jaxquba.data.registry import open_source, resolve
from jaxquba.data.sharding import process_shard
from jaxquba.errors import UserError


def _write_image(path, size=(12, 9), mode="RGB", seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], len(mode)), dtype=np.uint8)
    Image.fromarray(pixels.squeeze(-1) if mode == "L" else pixels).save(path)
    return pixels


def test_shipped_wnids_are_the_standard_order(shared_data):
    reference = (shared_data / "imagenet_metadata/timm/imagenet_synsets.txt").read_text().split()
    assert list(imagenet_wnids()) == reference


def test_folder_with_labels_csv(shared_data):
    root = shared_data / "imagenet_samples"
    source = open_source(f"folder:{root}")
    assert isinstance(source, Source)
    with open(root / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(source) == len(rows) == 500 and source.num_classes == 1000
    wnid_index = {w: i for i, w in enumerate(imagenet_wnids())}
    for i in (0, 1, 250, 499):
        example = source[i]
        assert example["id"] == rows[i]["file"]
        assert example["label"] == int(rows[i]["class_index"]) == wnid_index[rows[i]["wnid"]]
        with Image.open(root / rows[i]["file"]) as img:
            assert example["image"].shape == (img.height, img.width, 3) and example["image"].dtype == np.uint8


def test_folder_with_wnid_subfolders(tmp_path):
    wnids = imagenet_wnids()
    # Class folders for three classes, created out of order, one with a nested folder and a greyscale image.
    _write_image(tmp_path / wnids[7] / "b.png")
    _write_image(tmp_path / wnids[7] / "a.jpg", seed=1)
    _write_image(tmp_path / wnids[2] / "sub" / "c.PNG", mode="L", seed=2)
    _write_image(tmp_path / wnids[999] / "d.jpeg", seed=3)
    (tmp_path / wnids[999] / "notes.txt").write_text("not an image")
    source = FolderSource(tmp_path)
    got = [(source[i]["id"], source[i]["label"]) for i in range(len(source))]
    assert got == [(f"{wnids[2]}/sub/c.PNG", 2), (f"{wnids[7]}/a.jpg", 7), (f"{wnids[7]}/b.png", 7),
                   (f"{wnids[999]}/d.jpeg", 999)]
    assert source.num_classes == 1000
    grey = source[0]["image"]
    assert grey.shape == (9, 12, 3) and (grey[..., 0] == grey[..., 2]).all()


def test_folder_with_named_subfolders_uses_sorted_positions(tmp_path):
    for name in ("zebra", "cat", "dog"):
        _write_image(tmp_path / name / "x.png")
    source = FolderSource(tmp_path)
    assert [source[i]["label"] for i in range(3)] == [0, 1, 2]  # cat, dog, zebra
    assert source.num_classes == 3


def test_folder_errors(tmp_path):
    with pytest.raises(UserError, match="no such directory"):
        open_source(f"folder:{tmp_path / 'missing'}")
    with pytest.raises(UserError, match="labels.csv"):
        open_source(f"folder:{tmp_path}")
    (tmp_path / "labels.csv").write_text("file,class_index\nmissing.jpg,3\n")
    with pytest.raises(UserError, match="do not exist"):
        open_source(f"folder:{tmp_path}")


# spec -> (canonical name, extras with their Python type)
CATALOGUE_CASES = {
    "imagenet2012": ("imagenet2012:validation", {}),
    "imagenet_v2": ("imagenet_v2/matched-frequency:test", {}),
    "imagenet2012_real": ("imagenet2012_real:validation", {"real_labels": list}),
    "imagenet_a": ("imagenet_a:test", {}),
    "imagenet_r": ("imagenet_r:test", {}),
    "imagenet_sketch:test": ("imagenet_sketch:test", {}),
    "imagenet2012_multilabel": ("imagenet2012_multilabel:validation",
                                {"correct_multi_labels": list, "wrong_multi_labels": list,
                                 "unclear_multi_labels": list, "is_problematic": bool}),
    "imagenet2012_corrupted/gaussian_blur_3": ("imagenet2012_corrupted/gaussian_blur_3:validation", {}),
}


@pytest.mark.parametrize("spec", list(CATALOGUE_CASES))
def test_tfds_catalogue_sources_with_mock_data(spec, tmp_path):
    canonical, extras = CATALOGUE_CASES[spec]
    with tfds.testing.mock_data(num_examples=5):
        source = open_source(spec, data_dir=str(tmp_path))
        assert source.name == canonical and len(source) == 5
        assert source.num_classes == 1000  # tfds labels every one of these in the 1k space (IN-A/R included)
        ids = set()
        for i in range(len(source)):
            example = source[i]
            image = example["image"]
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3
            assert isinstance(example["label"], int) and 0 <= example["label"] < 1000
            assert isinstance(example["id"], str)
            ids.add(example["id"])
            assert set(example) == {"image", "label", "id", *extras}
            for key, kind in extras.items():
                assert isinstance(example[key], kind)
                if kind is list:
                    assert all(isinstance(v, int) and 0 <= v < 1000 for v in example[key])
        assert len(ids) == len(source)


def test_spec_errors_name_the_problem():
    with pytest.raises(UserError, match="imagenet_r"):
        resolve("imagenet_rr")
    with pytest.raises(UserError, match="gaussian_noise_1"):
        resolve("imagenet2012_corrupted")
    with pytest.raises(UserError, match="mixed_same"):
        resolve("imagenet9:mixed_sam")
    with pytest.raises(UserError, match="cue_conflict"):
        resolve("mvh_cue_conflit")
    with pytest.raises(UserError, match="no configs"):
        resolve("imagenet_r/foo")


@pytest.mark.parametrize("spec,needle", [
    ("imagenet2012", "ILSVRC2012_img_val.tar"),
    ("imagenet_r", "python -m jaxquba.data.prepare --dataset=imagenet_r:test"),
    ("mvh_stylized", "model-vs-human/releases/download/v0.1/stylized.tar.gz"),
    ("imagenet9:mixed_rand", "--local_copy"),
])
def test_unprepared_dataset_says_how_to_prepare(spec, needle, tmp_path):
    with pytest.raises(UserError) as error:
        open_source(spec, data_dir=str(tmp_path))
    message = str(error.value)
    assert "not prepared" in message and needle in message and f"--data_dir={tmp_path}" in message
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]  # opening never downloads or prepares


def test_process_shards_are_disjoint_ordered_and_complete():
    indices = np.random.default_rng(0).permutation(103)
    for count in (1, 2, 3, 8, 200):
        shards = [process_shard(indices, p, count) for p in range(count)]
        assert np.array_equal(np.concatenate(shards), indices)  # disjoint, complete, order kept
        sizes = [len(s) for s in shards]
        assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError):
        process_shard(indices, 2, 2)

