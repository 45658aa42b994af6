"""The served-list composition that publishing writes and evaluation scores."""

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models.data import Interactions
from models.evaluation import per_user_split, served_indices
from models.popularity import Popularity
from models.served import compose, publish_lists, unavailable_items
from models.training import TrainingConfig, train_and_evaluate


def test_batch_first_then_fallback_without_repeats_exclusions_or_unavailable_items():
    batch = np.array([[3, 1, -1, -1], [-1, -1, -1, -1]])
    scores = np.array([[0.9, 0.5, 0, 0], [0, 0, 0, 0]], dtype=np.float32)
    fallback = np.array([1, 0, 2, 4, 5])
    exclude = sp.csr_matrix(([1.0], ([0], [0])), shape=(2, 6))  # user 0 saw item 0
    unavailable = np.array([False, False, True, False, False, False])  # item 2 blocked
    idx, vals = compose(batch, fallback, 4, exclude, unavailable, scores)
    assert idx.tolist() == [[3, 1, 4, 5], [1, 0, 4, 5]]
    assert vals[0, 0] == np.float32(0.9) and vals[0, 2] < vals[0, 1]  # backfill ranks below
    assert vals[0, 3] < vals[0, 2]


def test_short_candidates_pad_with_minus_one():
    idx, _ = compose(np.array([[2]]), np.array([2]), 3)
    assert idx.tolist() == [[2, -1, -1]]


def _shop() -> pd.DataFrame:
    day = pd.Timestamp("2025-03-01", tz="UTC")
    rows = []
    for u in range(30):
        for j in range(6):
            item = f"i{(u + j) % 12}"
            rows.append((f"u{u}", item, 1.0 + (j % 2), day + pd.Timedelta(hours=u * 6 + j)))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "weight", "first_at"])
    frame["last_at"] = frame["first_at"]
    return frame


def test_published_lists_skip_seen_disliked_bought_and_blocked_items():
    frame = _shop()
    frame["disliked"] = (frame["user_id"] == "u0") & (frame["item_id"] == "i5")
    data = Interactions.from_frame(frame)
    model = Popularity().fit(data)
    users = ["u0", "u1", "new-user"]
    fallback = [str(i) for i in data.item_ids]
    idx, _ = publish_lists(model, users, fallback, 12, exclude={"u1": {"i11"}}, unavailable={"i7"})
    lists = [[str(model.item_ids[i]) for i in row if i >= 0] for row in idx]
    assert not set(data.user_items("u0")) & set(lists[0])
    assert "i5" not in lists[0]  # disliked, never recommended back
    assert "i11" not in lists[1] and not set(data.user_items("u1")) & set(lists[1])
    assert all("i7" not in items for items in lists)
    assert lists[2] == [i for i, _ in model.top(12) if i != "i7"]  # unknown: cold list


def test_evaluation_scores_cold_users_through_the_fallback():
    frame = pd.concat([_shop(), _shop().iloc[[0]].assign(user_id="solo", item_id="i3")])
    data = Interactions.from_frame(frame)
    split = per_user_split(data)
    solo = data.user_index("solo")
    assert solo in split.test_users  # one pair: held out, no training history
    model = Popularity(count=True).fit(split.train)
    fallback = model.top_indices(5)
    idx = served_indices(model, split, fallback, k=5)
    row = int(np.flatnonzero(split.test_users == solo)[0])
    assert idx[row].tolist() == fallback.tolist()


def test_training_reports_served_metrics_with_baselines_and_validation(shop):
    config = TrainingConfig(
        model_types=("popularity", "ease", "hybrid"), tuning_max_trials=2, tuning_budget_s=5
    )
    result = train_and_evaluate(*shop, config)
    assert set(result.table) == {"popularity", "ease", "hybrid"}
    assert set(result.baselines) == {"popularity", "als_defaults"}
    assert result.split.kind == "per_user:0.2"
    assert result.best in result.validation_table
    assert result.table["ease"]["ndcg"] > result.baselines["popularity"]["ndcg"]
    assert set(result.params["hybrid"]["weights"]) <= {"ease", "popularity"}
    assert result.prepared is not None
    assert result.prepared.validation.train.nnz < result.split.train.nnz


def test_unavailable_items_are_blocked_out_of_stock_or_unknown():
    items = pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d"],
            "blocked": [False, "true", None, 0],
            "stock": [None, 5, 0, 3],
        }
    )
    mask = unavailable_items(items, ["a", "b", "c", "d", "zz"])
    assert mask.tolist() == [False, True, True, False, True]
