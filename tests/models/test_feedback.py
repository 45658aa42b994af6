"""Explicit feedback: disliked pairs are known negatives, never positives or recommendations."""

import pandas as pd
import pytest

from models.data import Interactions
from models.factory import build
from models.training import fit_models


@pytest.fixture(scope="module")
def rated(shop) -> tuple[pd.DataFrame, pd.DataFrame]:
    interactions, items = shop
    frame = interactions.copy()
    frame["rating"] = 5.0
    frame["disliked"] = False
    dislike = frame.groupby("user_id").head(2).index  # every user dislikes two items
    frame.loc[dislike, ["rating", "disliked", "weight"]] = [1.0, True, 0.0]
    return frame, items


def test_disliked_pairs_are_not_training_positives(rated):
    frame, _ = rated
    data = Interactions.from_frame(frame)
    positives = data.positives()
    assert data.nnz == len(frame.drop_duplicates(["user_id", "item_id"]))
    assert positives.nnz == data.nnz - int(frame["disliked"].sum())
    assert data.negatives().nnz == int(frame["disliked"].sum())


def test_absent_feedback_columns_work_as_before(shop):
    data = Interactions.from_frame(shop[0])
    assert data.disliked is None and data.positives() is data
    assert data.negatives().nnz == 0


def test_no_model_recommends_a_disliked_item_back(rated, tmp_path):
    frame, items = rated
    from models.training import prepare

    data, catalog = prepare(frame, items)
    disliked = frame[frame["disliked"]].groupby("user_id")["item_id"].apply(set)
    users = list(disliked.index[:25])
    kinds = ("popularity", "als", "bpr", "item_item", "content", "ease", "hybrid")
    models = fit_models(data, catalog, {}, kinds)
    for name, model in models.items():
        for user, recs in zip(users, model.recommend_batch(users, 100), strict=True):
            assert not disliked[user] & {i for i, _ in recs}, (name, user)
        loaded = build(name, model.params()).load(model.save(tmp_path / name))
        recs = loaded.recommend(users[0], 100)
        assert not disliked[users[0]] & {i for i, _ in recs}, name
