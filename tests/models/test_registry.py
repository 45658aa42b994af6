"""The champion gate against a real MLflow SQLite store."""

import mlflow
import pytest
from mlflow import MlflowClient

from models.registry import (
    CHAMPION_ALIAS,
    SERVING_MODEL,
    champion_gate,
    current_champion,
    load_version,
    log_and_register,
)
from models.training import InsufficientData, TrainingConfig, train_and_evaluate

FAST = {"tuning_max_trials": 1, "tune_types": ()}


def _cycle(shop, model_types, params=None):
    config = TrainingConfig(model_types=model_types, params=params or {}, **FAST)
    result = train_and_evaluate(*shop, config)
    with mlflow.start_run(run_name="test-cycle"):
        refs = log_and_register(result, config.k)
        decision = champion_gate(result, refs, config.k)
    return result, refs, decision


def test_better_model_is_promoted_and_worse_one_is_not(shop, mlflow_store):
    _, _, first = _cycle(shop, ("popularity",))
    assert first.promoted and first.champion.version == "1"

    _, _, better = _cycle(shop, ("item_item",))
    assert better.promoted and better.champion.version == "2"
    assert better.candidate_ndcg > better.champion_ndcg
    assert load_version(SERVING_MODEL, alias=CHAMPION_ALIAS).name == "item_item"

    _, refs, worse = _cycle(shop, ("popularity",))
    assert not worse.promoted
    assert worse.champion_ndcg > worse.candidate_ndcg
    champion, tags = current_champion()
    assert champion.version == "2" and tags["model_type"] == "item_item"
    run = MlflowClient().get_run(refs["popularity"].run_id)
    assert run.data.tags["gate"] == "rejected"
    assert "does not beat" in run.data.tags["gate_reason"]

    _, _, same = _cycle(shop, ("item_item",))
    assert not same.promoted  # a tie is not a win
    assert current_champion()[0].version == "2"


def test_first_model_becomes_champion_and_loads_back(shop, mlflow_store):
    result, refs, decision = _cycle(shop, ("popularity",))
    assert decision.promoted and "no champion yet" in decision.reason
    client = MlflowClient()
    version = client.get_model_version_by_alias(SERVING_MODEL, CHAMPION_ALIAS)
    assert version.tags["source_model"] == "shopflow-popularity"
    model = load_version(SERVING_MODEL, alias=CHAMPION_ALIAS)
    user = str(result.data.user_ids[0])
    assert model.recommend(user, 5) == result.models["popularity"].recommend(user, 5)


def test_tiny_matrix_is_refused_with_a_reason(shop):
    interactions, items = shop
    tiny = interactions[interactions["user_id"].isin(["u1", "u2"])]
    with pytest.raises(InsufficientData, match="need at least"):
        train_and_evaluate(tiny, items, TrainingConfig(**FAST))
