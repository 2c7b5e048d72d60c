"""The custom tfds builders: model-vs-human cue-conflict from the shared copy, ImageNet-9 from a generated tree."""

from __future__ import annotations

import re
import tarfile

import numpy as np
import pytest
from PIL import Image

from jaxquba.data.builders.model_vs_human import CATEGORIES
from jaxquba.data.prepare import prepare
from jaxquba.data.registry import open_source
from jaxquba.errors import UserError

IN9_CLASSES = ("00_dog", "01_bird", "02_vehicle", "03_reptile", "04_carnivore", "05_insect", "06_instrument",
               "07_primate", "08_fish")


def test_cue_conflict_builds_from_local_copy_and_reads_back(shared_data, tmp_path):
    local = shared_data / "cue_conflict"
    prepare("mvh_cue_conflict", data_dir=str(tmp_path), local_copy=str(local))
    source = open_source("mvh_cue_conflict", data_dir=str(tmp_path))
    assert len(source) == 620 and source.num_classes == 16

    files = sorted(p.relative_to(local).as_posix() for p in local.glob("*/*.png"))
    examples = [source[i] for i in range(len(source))]
    assert [ex["id"] for ex in examples] == files  # sorted relative-path order
    same = 0
    for ex in examples:
        folder, name = ex["id"].split("/")
        shape, texture = re.fullmatch(r"([a-z]+)\d+-([a-z]+)\d+\.png", name).groups()
        assert shape == folder
        assert ex["label"] == ex["shape_label"] == CATEGORIES.index(shape)
        assert ex["texture_label"] == CATEGORIES.index(texture)
        same += shape == texture
    assert same == 42  # MANIFEST.md: 42 of the 620 have the same shape and texture category

    for ex in examples[::155]:  # decoded pixels are the original file's
        with Image.open(local / ex["id"]) as img:
            np.testing.assert_array_equal(ex["image"], np.asarray(img.convert("RGB")))


def _imagenet9_tree(root, variations, per_class=2):
    """A dummy bg_challenge/<variation>/val/<class>/ tree; returns {(variation, relative path): label}."""
    expected = {}
    rng = np.random.default_rng(0)
    for variation in variations:
        for label, name in enumerate(IN9_CLASSES):
            for k in range(per_class):
                path = root / "bg_challenge" / variation / "val" / name / f"img{k}.JPEG"
                path.parent.mkdir(parents=True, exist_ok=True)
                pixels = rng.integers(0, 256, (10 + k, 14, 3), dtype=np.uint8)
                image = Image.fromarray(pixels)
                (image.convert("L") if k == 0 else image).save(path, quality=95)  # some greyscale, as in real sets
                expected[variation, f"{name}/img{k}.JPEG"] = label
    return expected


def test_imagenet9_builds_from_folder_and_from_archive(tmp_path):
    tree, archive_dir, data_dir = tmp_path / "tree", tmp_path / "archive", tmp_path / "tfds"
    expected = _imagenet9_tree(tree, ["mixed_same", "mixed_rand"])
    archive_dir.mkdir()
    with tarfile.open(archive_dir / "backgrounds_challenge_data.tar.gz", "w:gz") as tar:
        tar.add(tree / "bg_challenge", arcname="bg_challenge")

    prepare("imagenet9:mixed_same", data_dir=str(data_dir), local_copy=str(tree))  # extracted copy
    prepare("imagenet9:mixed_rand", data_dir=str(data_dir), local_copy=str(archive_dir))  # release archive
    for variation in ("mixed_same", "mixed_rand"):
        source = open_source(f"imagenet9:{variation}", data_dir=str(data_dir))
        assert source.num_classes == 9 and len(source) == 9 * 2
        got = {(variation, source[i]["id"]): source[i]["label"] for i in range(len(source))}
        assert got == {k: v for k, v in expected.items() if k[0] == variation}
        for example in (source[0], source[1]):  # a greyscale and an RGB file: decoded as PIL's convert('RGB')
            with Image.open(tree / "bg_challenge" / variation / "val" / example["id"]) as img:
                np.testing.assert_array_equal(example["image"], np.asarray(img.convert("RGB")))


def test_prepare_rejects_a_missing_local_copy(tmp_path):
    with pytest.raises(UserError, match="local_copy"):
        prepare("mvh_edge", data_dir=str(tmp_path), local_copy=str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="nothing to prepare"):
        prepare(f"folder:{tmp_path}")


def test_release_download_path_unpacks_the_release_archive(tmp_path):
    """Online branch of the builders, with tfds's downloader replaced by a stub that serves a local archive."""
    from jaxquba.data.builders import release_files
    from jaxquba.data.builders.model_vs_human import RELEASE_URL

    (tmp_path / "edge" / "bear").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "edge" / "bear" / "bear1.png")
    archive = tmp_path / "edge.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "edge", arcname="edge")

    class StubDownloadManager:
        download_dir = tmp_path / "downloads"
        requested = []

        @property
        def manual_dir(self):
            raise AssertionError("Manual directory not enabled.")  # what tfds raises without a local copy

        def download(self, url):
            self.requested.append(url)
            return archive

    manager = StubDownloadManager()
    url = RELEASE_URL.format(release="edge")
    unpacked = release_files.release_folder(manager, url)
    assert manager.requested == ["https://github.com/bethgelab/model-vs-human/releases/download/v0.1/edge.tar.gz"]
    assert (unpacked / "edge" / "bear" / "bear1.png").is_file()
    assert release_files.release_folder(manager, url) == unpacked  # unpacked once, reused


def test_category_parsing_of_both_release_layouts():
    from jaxquba.data.builders.model_vs_human import category_of, texture_of

    assert category_of("bear/bear10-bottle1.png") == "bear"  # folder layout (cue-conflict, edge, silhouette)
    # session layout (sketch, stylized): the 5th '_'-field, model-vs-human's InfoMappingWithSessions rule
    assert category_of("dnn/session-1/0421_st_dnn_0_knife_00_n03041632_3681.png") == "knife"
    assert texture_of("bear/bear10-bottle1.png") == "bottle"
    with pytest.raises(ValueError):
        category_of("dnn/session-1/0421_st_dnn_0_spoon_00_x.png")
