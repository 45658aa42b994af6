import math

import numpy as np
import pytest

from models.data import Catalog, Interactions
from models.evaluation import evaluate, leave_last_out
from models.factory import build, load_model
from models.hybrid import Hybrid, reciprocal_rank_fusion
from models.kinds import model_class
from models.training import fit_models

COMPONENTS = ("popularity", "als", "bpr", "item_item", "content", "ease")


@pytest.fixture(scope="module")
def fitted(shop_data):
    data, catalog = shop_data
    split = leave_last_out(data)
    models = fit_models(split.train, catalog, {}, (*COMPONENTS, "hybrid"))
    return split, catalog, models


def test_every_model_learns_the_taste_structure_better_than_popularity(fitted):
    split, _, models = fitted
    scores = {name: evaluate(model, split)["ndcg"] for name, model in models.items()}
    for name in ("als", "bpr", "item_item", "content", "ease", "hybrid"):
        assert scores[name] > scores["popularity"], scores
    assert scores["hybrid"] > scores["popularity"] * 2


def test_recommendations_exclude_seen_items_and_are_finite(fitted):
    split, _, models = fitted
    user = str(split.train.user_ids[0])
    seen = set(split.train.user_items(user))
    for name, model in models.items():
        recs = model.recommend(user, 20)
        assert recs, name
        assert not seen & {item for item, _ in recs}, name
        assert all(math.isfinite(score) for _, score in recs), name
        scores = [score for _, score in recs]
        assert scores == sorted(scores, reverse=True), name


def test_similar_items_share_the_category(fitted, shop_data):
    _, catalog, models = fitted
    category = catalog.items["category"]
    for name in ("item_item", "content", "hybrid"):
        similar = models[name].similar("i7", 5)
        assert "i7" not in {i for i, _ in similar}
        same = sum(category[i] == category["i7"] for i, _ in similar)
        assert same >= 3, (name, similar)


def test_save_and_load_give_the_same_recommendations(fitted, tmp_path):
    split, _, models = fitted
    users = [str(u) for u in split.train.user_ids[:5]]
    for name, model in models.items():
        loaded = load_model(model.save(tmp_path / name))
        assert type(loaded) is model_class(name)
        assert loaded.params() == model.params()
        for before, after in zip(
            model.recommend_batch(users, 10), loaded.recommend_batch(users, 10), strict=True
        ):
            assert [i for i, _ in after] == [i for i, _ in before], name
            assert [s for _, s in after] == pytest.approx([s for _, s in before], rel=1e-5)
        assert [i for i, _ in loaded.similar("i3", 5)] == [i for i, _ in model.similar("i3", 5)]


def test_nan_scores_never_come_out(shop_data):
    data, catalog = shop_data
    model = build("als").fit(data, catalog)
    model.item_factors[:10] = np.nan
    recs = model.recommend(str(data.user_ids[0]), 50)
    assert recs and all(math.isfinite(s) for _, s in recs)
    assert all(data.item_index(i) >= 10 for i, _ in recs)


def test_reciprocal_rank_fusion_by_hand():
    fused = reciprocal_rank_fusion([(1.0, ["a", "b"]), (0.5, ["b", "c"])], k=1, n=3)
    assert [item for item, _ in fused] == ["b", "a", "c"]
    assert dict(fused)["b"] == pytest.approx(1 / 3 + 0.5 / 2)
    assert dict(fused)["a"] == pytest.approx(1 / 2)


def test_cold_user_gets_category_popularity_then_global(fitted):
    _, catalog, models = fitted
    hybrid: Hybrid = models["hybrid"]
    recs = hybrid.recommend("never-seen", 5, category="cat2")
    assert len(recs) == 5
    assert all(catalog.items["category"][i] == "cat2" for i, _ in recs)
    assert hybrid.recommend("never-seen", 5) == hybrid.popularity.top(5)


def test_new_item_gets_its_content_neighbours(shop):
    interactions, items = shop
    new = items.iloc[[4]].assign(item_id="brand-new")  # same text as i4, no interactions
    from models.training import prepare

    data, catalog = prepare(interactions, __import__("pandas").concat([items, new]))
    models = fit_models(data, catalog, {}, ("popularity", "als", "item_item", "content", "hybrid"))
    similar = models["hybrid"].similar("brand-new", 5)
    assert similar[0][0] == "i4"
    content = models["content"].similar("brand-new", 5)
    assert [i for i, _ in similar] == [i for i, _ in content]
    assert models["item_item"].similar("brand-new", 5) == []


def test_unknown_user_gets_no_personal_list_from_plain_models(fitted):
    _, _, models = fitted
    assert models["als"].recommend("never-seen", 5) == []
    assert len(models["popularity"].recommend("never-seen", 5)) == 5


def test_bm25_weighted_als_fits(shop_data):
    data, catalog = shop_data
    model = build("als", {"bm25": True, "iterations": 5}).fit(data, catalog)
    assert model.recommend(str(data.user_ids[1]), 5)


def test_catalog_without_interactions_is_rejected_clearly():
    with pytest.raises(ValueError, match="lack columns"):
        Interactions.from_frame(__import__("pandas").DataFrame({"user_id": ["u"]}))
    with pytest.raises(ValueError, match="catalog"):
        build("content").fit(
            Interactions.from_frame(
                __import__("pandas").DataFrame({"user_id": ["u"], "item_id": ["i"], "weight": [1]})
            ),
            None,
        )
    assert Catalog  # noqa: B018 (imported for type clarity)
