"""Resources: the only things in the pipeline that touch external systems.

Tests and deployments swap them; defaults come from ``shopflow.config.Settings``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import dagster as dg
import duckdb

from shopflow import embedded
from shopflow.config import get_settings
from shopflow.online_store import connect


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse. Connections are short: DuckDB allows one writing process."""

    path: str = ""

    def db_path(self) -> str:
        return self.path or str(get_settings().warehouse_path)

    @contextlib.contextmanager
    def connect(
        self, read_only: bool = False, retries: int = 50
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        last: Exception | None = None
        for _ in range(retries):
            try:
                con = duckdb.connect(self.db_path(), read_only=read_only)
                break
            except duckdb.IOException as exc:  # another process holds the lock
                last = exc
                time.sleep(0.2)
        else:
            raise RuntimeError(f"warehouse {self.db_path()} is locked: {last}")
        try:
            yield con
        finally:
            con.close()


class RedisResource(dg.ConfigurableResource):
    """The online store. Empty ``url`` means REDIS_URL or the embedded Redis."""

    url: str = ""

    def client(self) -> connect.SyncClient:
        """A standalone or cluster client (``shopflow.online_store.connect``)."""
        url = self.url or embedded.ensure_redis()
        return connect.connect(url, decode_responses=True)


class MLflowResource(dg.ConfigurableResource):
    """MLflow tracking. Empty ``tracking_uri``: MLFLOW_TRACKING_URI or the local SQLite store."""

    tracking_uri: str = ""
    experiment: str = ""

    def setup(self) -> str:
        import mlflow

        from models.registry import use_experiment

        settings = get_settings()
        uri = self.tracking_uri or settings.mlflow_uri
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        use_experiment(self.experiment or settings.mlflow_experiment, settings.mlflow_artifacts_dir)
        return uri


def default_resources() -> dict[str, object]:
    return {
        "warehouse": WarehouseResource(),
        "redis": RedisResource(),
        "mlflow": MLflowResource(),
    }
