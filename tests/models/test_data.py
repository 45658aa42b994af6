"""Interactions.from_frame on messy rows: what is kept, dropped, summed and how ids map."""

import numpy as np
import pandas as pd

from models.data import Interactions


def test_messy_rows_are_cleaned_and_duplicates_summed():
    frame = pd.DataFrame(
        {
            "user_id": ["u2", "u1", "u1", None, "u3", "u1", 7],
            "item_id": ["b", "a", "a", "a", "c", None, "b"],
            "weight": [1.0, 2.0, 3.0, 1.0, 0.0, 1.0, 4.0],
            "last_at": pd.to_datetime(
                ["2025-01-03", "2025-01-01", "2025-01-02", None, None, None, "2025-01-05"], utc=True
            ),
        }
    )
    data = Interactions.from_frame(frame)
    assert list(data.user_ids) == ["7", "u1", "u2"]  # sorted; missing ids and weight 0 dropped
    assert list(data.item_ids) == ["a", "b"]
    assert data.matrix.toarray().tolist() == [[0, 4], [5, 0], [0, 1]]
    day = 86_400.0
    assert data.last_at.tolist() == [
        pd.Timestamp("2025-01-05", tz="UTC").timestamp(),
        pd.Timestamp("2025-01-02", tz="UTC").timestamp(),  # the later of the duplicate pair
        pd.Timestamp("2025-01-03", tz="UTC").timestamp(),
    ]
    assert data.last_at[1] - pd.Timestamp("2025-01-01", tz="UTC").timestamp() == day


def test_a_fixed_item_axis_keeps_unused_items_and_drops_unknown_ones():
    frame = pd.DataFrame({"user_id": ["u1", "u1"], "item_id": ["b", "zz"], "weight": [1, 2]})
    data = Interactions.from_frame(frame, item_ids=["a", "b", "c"])
    assert list(data.item_ids) == ["a", "b", "c"]
    assert data.matrix.toarray().tolist() == [[0, 1, 0]]
    assert data.matrix.dtype == np.float32 and data.matrix.has_sorted_indices
