"""Two real training runs logged to a home's MLflow store the way training logs them: the
models of each run nested under it, tuning trials apart, registered versions and the champion
gate's alias."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from shopflow.config import Settings

URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
TRAINING_RUNS = (("popularity", "item_item"), ("popularity", "item_item", "ease"))


def train_twice(settings: Settings) -> None:
    import mlflow

    from models.registry import (
        champion_gate,
        log_and_register,
        log_trial,
        prepare_store,
        use_experiment,
    )
    from models.synthetic import synthetic_shop
    from models.training import TrainingConfig, train_and_evaluate

    uri = settings.mlflow_uri
    prepare_store(uri)
    with mlflow_uris_restored():
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        use_experiment(settings.mlflow_experiment, settings.mlflow_artifacts_dir)
        shop = synthetic_shop(n_users=200, n_items=120, n_categories=6, seed=3)
        for kinds in TRAINING_RUNS:
            config = TrainingConfig(
                model_types=kinds, tuning_max_trials=3, tune_types=("item_item",)
            )
            with mlflow.start_run(run_name="recommender_training"):
                result = train_and_evaluate(
                    *shop, config, on_trial=lambda kind, t: log_trial(kind, t.params, t.metrics)
                )
                champion_gate(result, log_and_register(result, config.k), config.k, config=config)


@contextlib.contextmanager
def mlflow_uris_restored() -> Iterator[None]:
    """Put MLflow's tracking and registry URIs back as they were, environment included
    (``set_*_uri`` exports them, and a later client or subprocess would follow them)."""
    import mlflow

    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    saved_env = {name: os.environ.get(name) for name in URI_ENV}
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
