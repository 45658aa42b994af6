"""Dagster's SQLite event log without an fsync per event (dagster.yaml: ``event_log_storage``).

Dagster commits every event (materializations, the planned and evaluated dbt checks) in its
own SQLite transaction; with the default ``synchronous=FULL`` each one waits for the disk, which
made a local materialize spend tens of seconds in fsync. ``synchronous=OFF`` keeps the log safe
against a crashed process (only an OS crash can lose the last events); production uses
PostgreSQL storage instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagster._config import StringSource
from dagster._core.storage.event_log import SqliteEventLogStorage
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection


class NoSyncSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` under ``<dagster_home>/history/runs`` with synchronous=OFF."""

    def __init__(self, dagster_home: str, inst_data: ConfigurableClassData | None = None):
        self._dagster_home = dagster_home
        super().__init__(os.path.join(dagster_home, "history", "runs"), inst_data=inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"dagster_home": StringSource}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> NoSyncSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with super()._connect(shard) as conn:
            # pysqlite opens its transaction lazily, at the first write: this runs before it.
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
            yield conn
