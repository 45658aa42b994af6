import math

import numpy as np
import pytest

from models.data import Interactions
from models.evaluation import (
    Split,
    average_precision_at_k,
    catalog_coverage,
    hit_rate_at_k,
    metrics_from_lists,
    ndcg_at_k,
    novelty,
    precision_at_k,
    recall_at_k,
)


def test_precision_recall_hit_rate_by_hand():
    recs, relevant = ["a", "b", "c", "d"], {"b", "d", "z"}
    assert precision_at_k(recs, relevant, 4) == pytest.approx(2 / 4)
    assert recall_at_k(recs, relevant, 4) == pytest.approx(2 / 3)
    assert precision_at_k(recs, relevant, 2) == pytest.approx(1 / 2)
    assert hit_rate_at_k(recs, relevant, 1) == 0.0
    assert hit_rate_at_k(recs, relevant, 2) == 1.0
    assert recall_at_k(recs, set(), 4) == 0.0


def test_ndcg_by_hand():
    # hits at ranks 2 and 4; ideal has both hits at ranks 1 and 2
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    ideal = 1 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(["a", "b", "c", "d"], {"b", "d"}, 4) == pytest.approx(dcg / ideal)
    assert ndcg_at_k(["b", "d"], {"b", "d"}, 2) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "y"], {"b"}, 2) == 0.0


def test_map_by_hand():
    # hits at 1 and 3: (1/1 + 2/3) / min(3 relevant, k=3)
    assert average_precision_at_k(["a", "x", "b"], {"a", "b", "c"}, 3) == pytest.approx(
        (1 + 2 / 3) / 3
    )
    assert average_precision_at_k(["x"], set(), 3) == 0.0


def test_coverage_and_novelty_by_hand():
    assert catalog_coverage([["a", "b"], ["b", "c"]], 6) == pytest.approx(3 / 6)
    # item a seen by 2 of 8 users -> 2 bits; item b by 1 of 8 -> 3 bits
    assert novelty([["a", "b"]], {"a": 2, "b": 1}, 8) == pytest.approx(2.5)


def test_metrics_from_lists_averages_over_test_users():
    matrix = np.array([[1, 0, 0, 0], [0, 1, 0, 0]], dtype=np.float32)
    import scipy.sparse as sp

    train = Interactions(
        np.array(["u0", "u1"], dtype=object),
        np.array(["a", "b", "c", "d"], dtype=object),
        sp.csr_matrix(matrix),
    )
    split = Split("manual", train, np.array([0, 1]), [np.array([2]), np.array([3])])
    result = metrics_from_lists([[2, 3], [2, 1]], split, k=2)
    assert result["hit_rate"] == pytest.approx(0.5)
    assert result["precision"] == pytest.approx(0.25)
    assert result["coverage"] == pytest.approx(3 / 4)
    assert all(math.isfinite(v) for v in result.values())
