"""Training entry points: tuning budget scaling, array recommendations, the store template."""

import sqlite3

import numpy as np
import pytest

from models.registry import prepare_store
from models.training import TrainingConfig, fit_models


def test_tuning_budget_grows_with_the_data_up_to_the_cap():
    config = TrainingConfig(tuning_budget_s=60, tuning_min_budget_s=3, tuning_s_per_100k=10)
    assert config.tuning_budget(0) == 3
    assert config.tuning_budget(5_000) == pytest.approx(3.5)
    assert config.tuning_budget(200_000) == pytest.approx(23)
    assert config.tuning_budget(5_000_000) == 60


def test_array_recommendations_match_the_lists(shop_data):
    data, catalog = shop_data
    models = fit_models(data, catalog, {}, ("popularity", "als", "item_item", "content", "hybrid"))
    users = [str(u) for u in data.user_ids[:20]] + ["never-seen"]
    for name, model in models.items():
        idx, scores = model.recommend_arrays(users, 10)
        for row, recs in enumerate(model.recommend_batch(users, 10)):
            pairs = zip(idx[row], scores[row], strict=True)
            got = [(str(model.item_ids[i]), float(s)) for i, s in pairs if i >= 0]
            assert [i for i, _ in got] == [i for i, _ in recs], (name, users[row])
            assert [s for _, s in got] == pytest.approx([s for _, s in recs], rel=1e-5)
    idx, _ = models["hybrid"].similar_arrays(["i3", "no-such-item"], 5)
    names = [str(models["hybrid"].item_ids[i]) for i in idx[0] if i >= 0]
    assert names == [i for i, _ in models["hybrid"].similar("i3", 5)]
    assert np.all(idx[1] == -1)


def test_a_new_sqlite_store_starts_from_the_migrated_template(tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    prepare_store(uri)
    with sqlite3.connect(tmp_path / "store" / "mlflow.db") as con:
        assert con.execute("select count(*) from experiments").fetchone() == (0,)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert [e.name for e in client.search_experiments()] == ["Default"]
    client.create_registered_model("m")
    prepare_store(uri)  # an existing store is left alone
    assert [m.name for m in client.search_registered_models()] == ["m"]


def test_a_failing_kind_reports_its_error_and_the_others_still_train(shop, monkeypatch):
    from models.factorization import BPR
    from models.training import train_and_evaluate

    def broken(self, data, catalog):
        raise RuntimeError("native loop crashed")

    monkeypatch.setattr(BPR, "_fit", broken)
    config = TrainingConfig(model_types=("popularity", "bpr", "ease"), tuning_max_trials=1)
    result = train_and_evaluate(*shop, config)
    assert result.errors == {"bpr": "RuntimeError: native loop crashed"}
    assert set(result.models) == {"popularity", "ease"}
    assert result.best in {"popularity", "ease"}


def test_popularity_decay_is_chosen_only_when_it_clearly_wins_on_validation():
    from models.tuning import Trial, _prefer_no_decay

    def trial(half_life, ndcg):
        return Trial({"half_life_days": half_life}, {"ndcg": ndcg}, 0.0)

    close = [trial(None, 0.100), trial(7.0, 0.101)]
    assert _prefer_no_decay(close) == {"half_life_days": None}  # within the margin: no decay
    clear = [trial(None, 0.100), trial(7.0, 0.150)]
    assert _prefer_no_decay(clear) == {"half_life_days": 7.0}


def test_half_life_choices_include_no_decay_and_scale_with_the_span(shop_data):
    from models.tuning import half_life_choices

    data, _ = shop_data
    choices = half_life_choices(data)
    assert choices[0] is None
    span_days = (data.last_at.max() - data.last_at.min()) / 86_400
    assert max(c for c in choices if c is not None) == pytest.approx(span_days, rel=0.01)
