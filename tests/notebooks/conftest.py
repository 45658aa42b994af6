"""A small built warehouse (analytics marts + experiment results) and an MLflow store with two
training runs, for the dashboards."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest

from shopflow.config import Settings, get_settings
from shopflow.experiments import load_experiments, metric_results
from shopflow.experiments.config import parse_experiments
from shopflow.experiments.results import compute_results, write_results
from tests.experiments import metric_data
from tests.notebooks.model_history import train_twice
from tests.warehouse import analytics_data as shop


@pytest.fixture(scope="package", autouse=True)
def no_inherited_mlflow_store() -> Iterator[None]:
    """mlflow.set_tracking_uri in an earlier test leaves MLFLOW_TRACKING_URI in the process
    environment; the dashboards here must read their own home's store."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
            patch.delenv(name, raising=False)
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


@pytest.fixture(scope="package")
def dashboard_home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the session's built shop, with experiment results written into it and two
    training runs in its MLflow store."""
    built = shop.built_home(tmp_path_factory)
    settings = shop.copy_home(built, tmp_path_factory.mktemp("dashboard") / "home")
    with duckdb.connect(str(settings.warehouse_path)) as con:
        config = load_experiments(shop.REPO / "experiments.yaml")
        write_results(con, compute_results(con, config))
    _write_metric_results(settings, tmp_path_factory.mktemp("metrics") / "m.duckdb")
    train_twice(settings)
    return settings


def _write_metric_results(settings: Settings, scratch) -> None:  # noqa: ANN001
    """Metric results and daily exposures of feature experiments with known effects (built in
    a scratch warehouse, so the shop's own marts stay as they are)."""
    metric_data.build(scratch)
    with duckdb.connect(str(scratch)) as con:
        results = metric_results.compute_metric_results(con, parse_experiments(metric_data.CONFIG))
        daily = metric_results.daily_exposures(con)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        metric_results.write_table(con, metric_results.METRICS_TABLE, results)
        metric_results.write_table(con, metric_results.DAILY_TABLE, daily)
