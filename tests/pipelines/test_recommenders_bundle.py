"""What the publish asset builds from models and marts: every user with history gets a served
list; disliked, bought and blocked items never appear."""

import pandas as pd

from models.data import Catalog
from models.registry import ModelRef
from models.synthetic import synthetic_shop
from models.training import fit_models, prepare
from pipelines.assets.recommenders import build_bundle
from shopflow.config import Settings


def test_every_user_with_history_gets_a_list_without_disliked_or_blocked_items(tmp_path):
    interactions, items = synthetic_shop(n_users=60, n_items=40, n_categories=4, seed=2)
    interactions = interactions.rename(columns={"n_purchases": "purchases"})
    day = pd.Timestamp("2020-01-01", tz="UTC")  # one user active only years ago
    old = pd.DataFrame(
        {"user_id": ["old"], "item_id": ["i3"], "weight": [1.0], "first_at": [day],
         "last_at": [day]}
    )  # fmt: skip
    frame = pd.concat([interactions, old], ignore_index=True)
    frame["disliked"] = False
    first = frame.groupby("user_id").head(1).index
    frame.loc[first, "disliked"] = True
    frame.loc[first, "weight"] = 0.0
    items = items.assign(blocked=items["item_id"] == "i1")
    data, catalog = prepare(frame, items)
    assert isinstance(catalog, Catalog)
    models = fit_models(data, catalog, {}, ("popularity", "ease"))
    loaded = {
        "champion": (ModelRef("shopflow-serving", "1", "ease"), models["ease"]),
        "ease": (ModelRef("shopflow-ease", "1", "ease"), models["ease"]),
        "popularity": (ModelRef("shopflow-popularity", "1", "popularity"), models["popularity"]),
    }
    bundle = build_bundle(loaded, frame, items, Settings(home=tmp_path))
    lists = bundle.recs["champion"].as_dict()
    assert set(lists) == set(frame["user_id"])  # including "old": no day window
    disliked = frame[frame["disliked"]].groupby("user_id")["item_id"].apply(set)
    for user, recs in lists.items():
        got = {item for item, _ in recs}
        assert not got & disliked.get(user, set()), user
        assert "i1" not in got
        assert disliked.get(user, set()) == bundle.disliked.get(user, set())  # serve-side set
