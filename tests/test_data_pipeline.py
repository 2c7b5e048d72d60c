"""host_batches: order, batch shapes, transform, labels, ids and extras, single- vs multi-threaded."""

from __future__ import annotations

import numpy as np
import pytest

from jaxquba.data.pipeline import HostBatch, collate_extras, host_batches
from jaxquba.data.preprocess import make_eval_transform
from jaxquba.zoo import DataConfig


class ArraySource:
    """Random-size images with ReaL-style extras; example i is a pure function of i."""

    name = "test:arrays"
    num_classes = 10

    def __len__(self):
        return 37

    def __getitem__(self, i):
        rng = np.random.default_rng(i)
        height, width = rng.integers(20, 60, size=2)
        return {"image": rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "label": i % 10, "id": f"img{i}",
                "real_labels": [int(v) for v in rng.choice(10, size=i % 3, replace=False)],
                "is_problematic": bool(i % 2), "weight": float(i) / 2}


TRANSFORM = make_eval_transform(DataConfig(input_size=16, crop_pct=0.875, interpolation="bilinear"))


@pytest.mark.parametrize("num_threads", [1, 4])
def test_batches_follow_indices_exactly(num_threads):
    source = ArraySource()
    indices = np.random.default_rng(0).permutation(len(source))[:30]  # e.g. a resumed, reordered shard
    batches = list(host_batches(source, TRANSFORM, 8, indices, num_threads=num_threads))
    assert [len(b.labels) for b in batches] == [8, 8, 8, 6]  # the last one short; the engine pads
    for b in batches:
        assert isinstance(b, HostBatch)
        assert b.images.dtype == np.uint8 and b.images.shape[1:] == (16, 16, 3)
        assert b.labels.dtype == np.int32 and b.example_ids.dtype == np.int32
    ids = np.concatenate([b.example_ids for b in batches])
    np.testing.assert_array_equal(ids, indices)
    images = np.concatenate([b.images for b in batches])
    for k in (0, 13, 29):
        np.testing.assert_array_equal(images[k], TRANSFORM(source[int(indices[k])]["image"]))
    np.testing.assert_array_equal(np.concatenate([b.labels for b in batches]), indices % 10)


def test_extras_become_per_example_arrays():
    source = ArraySource()
    examples = [source[i] for i in (4, 5, 6)]
    extras = collate_extras(examples, source.num_classes)
    assert set(extras) == {"real_labels", "is_problematic", "weight"}
    assert extras["real_labels"].shape == (3, 10) and extras["real_labels"].dtype == bool
    for row, ex in zip(extras["real_labels"], examples):  # multi-hot rows hold exactly the listed labels
        assert sorted(np.flatnonzero(row)) == sorted(ex["real_labels"])
    assert extras["is_problematic"].tolist() == [False, True, False]
    np.testing.assert_array_equal(extras["weight"], [2.0, 2.5, 3.0])


def test_empty_and_invalid_requests():
    assert list(host_batches(ArraySource(), TRANSFORM, 4, [])) == []
    with pytest.raises(ValueError):
        host_batches(ArraySource(), TRANSFORM, 0, [1])
