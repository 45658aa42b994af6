"""EASE against its closed form on a tiny matrix."""

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models.data import Interactions
from models.ease import EASE, ease_weights

ROWS = [
    ("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b"), ("u2", "c"),
    ("u3", "b"), ("u3", "c"), ("u4", "c"), ("u4", "d"), ("u5", "a"), ("u5", "d"),
]  # fmt: skip


def _data() -> Interactions:
    frame = pd.DataFrame(ROWS, columns=["user_id", "item_id"]).assign(weight=2.0)
    return Interactions.from_frame(frame)


def test_weights_match_the_closed_form():
    x = sp.csr_matrix(_data().matrix > 0, dtype=np.float64)
    lam = 0.5
    gram = (x.T @ x).toarray() + lam * np.eye(4)
    inverse = np.linalg.inv(gram)
    expected = np.eye(4) - inverse / np.diag(inverse)[None, :]
    np.fill_diagonal(expected, 0.0)
    b = ease_weights(x, lam)
    assert np.allclose(b, expected, atol=1e-5)
    assert np.allclose(np.diag(b), 0.0)
    # the stationarity condition of min ||X - XB||^2 + lam ||B||^2 off the diagonal
    residual = x.T @ (x - x @ b) - lam * b
    off = ~np.eye(4, dtype=bool)
    assert np.allclose(np.asarray(residual)[off], 0.0, atol=1e-4)


def test_recommendations_score_x_times_b_and_skip_seen_items():
    data = _data()
    model = EASE(regularization=0.5).fit(data)
    x = (data.matrix > 0).astype(np.float32)
    scores = np.asarray(x @ model.weights)
    u1 = data.user_index("u1")
    recs = model.recommend("u1", 4)
    assert {i for i, _ in recs} == {"c", "d"}
    col = {i: data.item_index(i) for i in "cd"}
    best = max("cd", key=lambda i: scores[u1, col[i]])
    assert recs[0][0] == best


def test_large_catalogs_keep_the_most_popular_items():
    model = EASE(regularization=1.0, max_items=2).fit(_data())
    kept = {str(model.item_ids[i]) for i in model.kept}
    assert kept <= {"a", "b", "c"} and len(kept) == 2  # d has the fewest users
    assert model.weights.shape == (2, 2)
    assert all(item in kept for item, _ in model.recommend("u4", 4))
