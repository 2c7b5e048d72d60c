"""The one accuracy function (top-1, top-k, and heads whose predictions are class indices) against a direct count."""

import numpy as np
import pytest

from jaxquba.errors import UserError
from jaxquba.metrics.accuracy import top_k_accuracy


def test_top1_leaves_unknown_labels_out():
    # 2 of the 3 known labels are predicted; the 4th example has no label (-1) and does not count.
    assert top_k_accuracy(np.array([1, 2, 3, 4]), np.array([1, 2, 0, -1])) == 2 / 3


def test_top_k_counts_a_label_anywhere_among_the_k():
    rng = np.random.default_rng(0)
    top5 = np.stack([rng.permutation(1000)[:5] for _ in range(200)])
    labels = np.where(rng.random(200) < 0.5, top5[np.arange(200), rng.integers(0, 5, 200)], rng.integers(0, 1000, 200))
    expected = np.mean([labels[i] in top5[i] for i in range(200)])
    assert top_k_accuracy(top5, labels) == expected  # the same count over the same total: exact
    assert top_k_accuracy(top5[:, 0], labels) == np.mean(top5[:, 0] == labels)


def test_no_known_label_is_a_user_error():
    with pytest.raises(UserError, match="no example has a known label"):
        top_k_accuracy(np.array([1, 2]), np.array([-1, -1]))
