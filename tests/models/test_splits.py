import numpy as np
import pandas as pd

from models.data import Interactions
from models.evaluation import leave_last_out, per_user_split, temporal_split


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


def test_temporal_split_holds_out_recent_pairs_and_keeps_cold_users():
    data = Interactions.from_frame(_frame())
    split = temporal_split(data, holdout_days=3)
    assert [data.user_ids[u] for u in split.test_users] == ["u1", "u3"]  # u3: fallback
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


def _history(counts: dict[str, int]) -> pd.DataFrame:
    day = pd.Timestamp("2024-01-01", tz="UTC")
    rows = [
        (user, f"{user}-i{j}", 1.0, day + pd.Timedelta(days=30 * j))
        for user, n in counts.items()
        for j in range(n)
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "weight", "first_at"])
    frame["last_at"] = frame["first_at"]
    return frame.sample(frac=1.0, random_state=0)  # row order must not matter


def _held(split) -> dict[str, list[str]]:
    data = split.train
    return {
        str(data.user_ids[u]): sorted(str(data.item_ids[i]) for i in items)
        for u, items in zip(split.test_users, split.test_items, strict=True)
    }


def test_per_user_split_holds_out_each_users_latest_fifth_at_least_one():
    data = Interactions.from_frame(_history({"a": 10, "b": 3, "c": 1, "d": 7}))
    split = per_user_split(data, 0.2)
    held = _held(split)
    assert held["a"] == ["a-i8", "a-i9"]  # the latest 20 % of 10
    assert held["b"] == ["b-i2"]  # 0.6 rounds to one
    assert held["d"] == ["d-i6"]  # 1.4 rounds to one
    assert held["c"] == ["c-i0"]  # at least one: no training history, scored by the fallback
    assert split.train.user_items("c") == []
    assert sorted(split.train.user_items("a")) == sorted(f"a-i{j}" for j in range(8))
    assert split.train.nnz + sum(len(v) for v in held.values()) == data.nnz


def test_validation_is_carved_from_train_by_the_same_rule():
    data = Interactions.from_frame(_history({"a": 10, "b": 5}))
    test = per_user_split(data, 0.2)
    validation = per_user_split(test.train, 0.2)
    assert _held(validation) == {"a": ["a-i6", "a-i7"], "b": ["b-i3"]}
    test_pairs = {(u, i) for u, items in _held(test).items() for i in items}
    for user in ("a", "b"):
        assert not test_pairs & {(user, i) for i in validation.train.user_items(user)}


def test_disliked_held_out_pairs_are_not_relevant():
    frame = _history({"a": 5})
    frame["disliked"] = frame["item_id"] == "a-i4"
    frame.loc[frame["disliked"], "weight"] = 0.0  # a low rating adds no weight
    data = Interactions.from_frame(frame)
    assert data.nnz == 5 and data.positives().nnz == 4
    split = per_user_split(data, 0.4)  # a-i3 and a-i4 held out
    assert _held(split) == {"a": ["a-i3"]}


def test_per_user_split_breaks_time_ties_by_item_id_whatever_the_item_axis():
    """Ratings imported with one timestamp tie; the held-out one must not depend on the
    order the catalog was read in."""
    day = pd.Timestamp("2025-01-01", tz="UTC")
    frame = pd.DataFrame(
        [("u1", item, 1.0, day) for item in ("a", "b", "c", "d", "e")],
        columns=["user_id", "item_id", "weight", "first_at"],
    )
    frame["last_at"] = frame["first_at"]
    held_out = []
    for axis in (["a", "b", "c", "d", "e"], ["e", "c", "a", "d", "b"]):
        data = Interactions.from_frame(frame, item_ids=axis)
        split = per_user_split(data, 0.2)
        held_out.append([data.item_ids[i] for i in split.test_items[0]])
    assert held_out == [["e"], ["e"]]
