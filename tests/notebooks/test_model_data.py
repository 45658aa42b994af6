"""The model report's data from a real MLflow store holding two training runs: models side by
side per run with their aliases, tuning trials of the latest run apart, no NaN rows; and the
experiment tagged so MLflow's UI opens it as model training."""

from __future__ import annotations

from collections.abc import Iterator

import mlflow
import pytest

from models.registry import EXPERIMENT_KIND_TAG
from notebooks import model_data
from shopflow.config import Settings
from tests.notebooks.model_history import mlflow_uris_restored


@pytest.fixture
def store(dashboard_home: Settings) -> Iterator[Settings]:
    with mlflow_uris_restored():  # the report points MLflow at the home's store
        yield dashboard_home


def test_models_side_by_side_per_training_run_with_aliases(store):
    runs = model_data.mlflow_runs(store)
    aliases = model_data.registered_aliases(store)
    assert aliases[["registered model", "alias"]].values.tolist() == [
        ["shopflow-serving", "champion"]
    ]
    comparison = model_data.model_comparison(runs, model_data.aliases_by_run(aliases))
    by_start = comparison.groupby("training run", sort=False)  # rows come in start order
    assert by_start["model"].apply(sorted).tolist() == [
        ["item_item", "popularity"],
        ["ease", "item_item", "popularity"],
    ]
    assert not comparison.isna().any().any()
    champion = comparison[comparison["aliases"] == "shopflow-serving@champion"]
    assert len(champion) == 1
    assert champion["model"].iloc[0] == aliases["model type"].iloc[0]
    table = model_data.side_by_side(comparison, "test ndcg@10")
    assert table.shape == (2, 4)  # two runs x (label, ease, item_item, popularity)
    assert table["ease"].isna().tolist() == [True, False]  # the first run trained no ease


def test_tuning_trials_of_the_latest_run_only(store):
    runs = model_data.mlflow_runs(store)
    comparison = model_data.model_comparison(runs, {})
    latest = model_data.tuning_trials(runs, comparison["started"].iloc[-1])
    every = model_data.tuning_trials(runs)
    assert "item_item" in latest.columns and latest["item_item"].notna().sum() == 3
    assert every["item_item"].notna().sum() == 6  # three trials in each of the two runs
    assert latest["trial"].tolist() == list(range(1, len(latest) + 1))


def test_no_store_means_no_runs(tmp_path):
    empty = Settings(home=tmp_path)
    assert model_data.mlflow_runs(empty).empty
    assert model_data.registered_aliases(empty).empty
    assert model_data.model_comparison(model_data.mlflow_runs(empty), {}).empty


def test_the_experiment_opens_as_model_training(store):
    client = mlflow.MlflowClient(tracking_uri=store.mlflow_uri, registry_uri=store.mlflow_uri)
    experiment = client.get_experiment_by_name(store.mlflow_experiment)
    assert experiment.tags[EXPERIMENT_KIND_TAG[0]] == "custom_model_development"
