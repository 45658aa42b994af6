"""The champion gate against a real MLflow SQLite store."""

import mlflow
import pytest
from mlflow import MlflowClient

from models.registry import (
    CHAMPION_ALIAS,
    SERVING_MODEL,
    champion_gate,
    current_champion,
    gate_verdict,
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


def test_gate_names_the_figure_that_lost():
    figures = {
        "champion v3 (als)": 0.20,
        "baseline popularity": 0.10,
        "baseline als_defaults": 0.25,
    }
    passed, reason = gate_verdict("ease v4", 0.22, figures, 10)
    assert not passed
    assert "does not beat baseline als_defaults ndcg@10=0.2500" in reason
    passed, reason = gate_verdict("ease v4", 0.30, figures, 10)
    assert passed and "beats champion v3 (als) 0.2000" in reason
    assert not gate_verdict("ease v4", 0.25, figures, 10)[0]  # a tie is not a win


def test_a_candidate_losing_to_a_baseline_is_rejected(shop, mlflow_store):
    _, refs, decision = _cycle(shop, ("popularity",))
    assert not decision.promoted
    assert "does not beat baseline" in decision.reason
    assert set(decision.figures) == {"baseline popularity", "baseline als_defaults"}
    # no champion yet: the best baseline becomes it, so serving starts from no worse model
    best = max(decision.figures, key=decision.figures.get).removeprefix("baseline ")
    assert f"no champion yet: baseline {best} becomes champion" in decision.reason
    champion, tags = current_champion()
    assert tags["source_model"] == f"shopflow-baseline-{best.replace('_', '-')}"
    assert decision.champion.version == champion.version == "1"
    assert load_version(SERVING_MODEL, alias=CHAMPION_ALIAS).name in {"popularity", "als"}
    run = MlflowClient().get_run(refs["popularity"].run_id)
    assert run.data.tags["gate"] == "rejected"
    assert "baseline" in run.data.tags["gate_reason"]


def test_better_model_is_promoted_and_worse_one_is_not(shop, mlflow_store):
    _, _, first = _cycle(shop, ("ease",))
    assert first.promoted and first.champion.version == "1"
    assert load_version(SERVING_MODEL, alias=CHAMPION_ALIAS).name == "ease"

    _, refs, worse = _cycle(shop, ("item_item",), {"item_item": {"neighbours": 2}})
    assert not worse.promoted
    assert worse.champion_ndcg > worse.candidate_ndcg
    champion, tags = current_champion()
    assert champion.version == "1" and tags["model_type"] == "ease"

    _, _, same = _cycle(shop, ("ease",))
    assert not same.promoted  # a tie is not a win
    assert "does not beat champion v1 (ease)" in same.reason
    assert current_champion()[0].version == "1"


def test_first_model_becomes_champion_and_loads_back(shop, mlflow_store):
    result, refs, decision = _cycle(shop, ("ease",))
    assert decision.promoted and "beats baseline popularity" in decision.reason
    client = MlflowClient()
    version = client.get_model_version_by_alias(SERVING_MODEL, CHAMPION_ALIAS)
    assert version.tags["source_model"] == "shopflow-ease"
    model = load_version(SERVING_MODEL, alias=CHAMPION_ALIAS)
    user = str(result.data.user_ids[0])
    assert model.recommend(user, 5) == result.models["ease"].recommend(user, 5)


def test_tiny_matrix_is_refused_with_a_reason(shop):
    interactions, items = shop
    tiny = interactions[interactions["user_id"].isin(["u1", "u2"])]
    with pytest.raises(InsufficientData, match="need at least"):
        train_and_evaluate(tiny, items, TrainingConfig(**FAST))


def test_an_empty_training_set_is_refused_with_a_reason(shop):
    interactions, items = shop
    with pytest.raises(InsufficientData, match="empty"):
        train_and_evaluate(interactions.iloc[:0], items, TrainingConfig(**FAST))
