"""Shared data for model tests: one small synthetic shop with latent structure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from models.data import Catalog, Interactions
from models.synthetic import synthetic_shop
from models.training import prepare


@pytest.fixture(scope="session")
def shop() -> tuple[pd.DataFrame, pd.DataFrame]:
    return synthetic_shop(n_users=200, n_items=120, n_categories=6, seed=3)


@pytest.fixture(scope="session")
def shop_data(shop: tuple[pd.DataFrame, pd.DataFrame]) -> tuple[Interactions, Catalog]:
    return prepare(*shop)


@pytest.fixture
def mlflow_store(tmp_path: Path) -> Iterator[str]:
    """A real MLflow tracking + registry store (SQLite) in tmp_path, as the active one."""
    import mlflow

    from models.registry import prepare_store
    from pipelines.resources import MLflowResource

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    prepare_store(uri)  # a copy of the migrated template built once per machine, not migrations
    previous = mlflow.get_tracking_uri()
    MLflowResource(tracking_uri=uri, experiment="test").setup()
    yield uri
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(previous)
