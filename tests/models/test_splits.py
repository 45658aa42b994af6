import numpy as np
import pandas as pd

from models.data import Interactions
from models.evaluation import leave_last_out, temporal_split


def _frame() -> pd.DataFrame:
    day = pd.Timestamp("2025-01-01", tz="UTC")
    rows = [
        ("u1", "a", 1.0, day),
        ("u1", "b", 2.0, day + pd.Timedelta(days=5)),
        ("u1", "c", 1.0, day + pd.Timedelta(days=9)),
        ("u2", "a", 1.0, day + pd.Timedelta(days=1)),
        ("u2", "c", 1.0, day + pd.Timedelta(days=2)),
        ("u3", "d", 1.0, day + pd.Timedelta(days=9)),  # only recent: no training history
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "weight", "first_at"])
    frame["last_at"] = frame["first_at"]
    return frame


def test_temporal_split_holds_out_recent_pairs_of_users_with_history():
    data = Interactions.from_frame(_frame())
    split = temporal_split(data, holdout_days=3)
    assert [data.user_ids[u] for u in split.test_users] == ["u1"]
    assert [data.item_ids[i] for i in split.test_items[0]] == ["c"]
    train = split.train
    assert train.user_items("u1") == ["a", "b"]
    assert train.user_items("u3") == []  # its only pair is in the future
    assert train.nnz == 4


def test_leave_last_out_takes_each_users_latest_pair():
    data = Interactions.from_frame(_frame())
    split = leave_last_out(data)
    held = {
        data.user_ids[u]: [data.item_ids[i] for i in items]
        for u, items in zip(split.test_users, split.test_items, strict=True)
    }
    assert held == {"u1": ["c"], "u2": ["c"]}  # u3 has one pair only: nothing held out
    assert split.train.user_items("u2") == ["a"]


def test_split_fingerprint_is_stable_and_content_sensitive():
    data = Interactions.from_frame(_frame())
    assert temporal_split(data, 3).fingerprint == temporal_split(data, 3).fingerprint
    assert temporal_split(data, 3).fingerprint != temporal_split(data, 6).fingerprint


def test_duplicate_pairs_are_summed_with_first_and_last_time():
    frame = _frame()
    extra = frame.iloc[[0]].assign(
        weight=3.0, first_at=frame["first_at"].iloc[0] + pd.Timedelta(days=1)
    )
    extra["last_at"] = extra["first_at"]
    data = Interactions.from_frame(pd.concat([frame, extra]))
    row = data.user_index("u1")
    assert data.matrix[row, data.item_index("a")] == 4.0
    pos = data.matrix.indptr[row]  # "a" is u1's first stored pair
    assert data.last_at[pos] - data.first_at[pos] == 86_400
    assert np.all(np.isfinite(data.first_at))
