"""The warehouse on Spark (``SHOPFLOW_WAREHOUSE_ENGINE=spark``): the same dbt project through
dbt-spark ``method: session``.

The validated raw layer (``raw.*``, loaded from landing Parquet by ``pipelines.raw_load``) is
handed to Spark as Parquet under ``Settings.spark_dir / "raw"``, one folder per table; the dbt
project registers those folders as the ``raw`` sources (warehouse/macros/raw_parquet.sql) and
builds staging and marts in Spark's catalog under ``spark_dir``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb

from pipelines.raw_load import SCHEMA
from shopflow.config import Settings
from shopflow.spark import spark_session

DBT_DIR = Path(__file__).resolve().parents[1] / "warehouse"
#: Bookkeeping of the DuckDB loader, no source of any model.
_NOT_EXPORTED = frozenset({"_loaded_files"})


def raw_dir(settings: Settings) -> Path:
    return settings.spark_dir / "raw"


def export_raw(con: duckdb.DuckDBPyConnection, target: Path) -> list[str]:
    """Write every ``raw`` table to ``target/<table>/part-0.parquet``; returns the tables.

    Each table is written beside its folder, then swapped in, so a reader sees the old
    files or the new ones."""
    tables = [
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = ? order by 1",
            [SCHEMA],
        ).fetchall()
        if name not in _NOT_EXPORTED
    ]
    target.mkdir(parents=True, exist_ok=True)
    for table in tables:
        fresh, final = target / f".{table}.new", target / table
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir()
        con.execute(f"copy {SCHEMA}.{table} to '{fresh / 'part-0.parquet'}' (format parquet)")
        old = target / f".{table}.old"
        if final.exists():
            final.rename(old)
        fresh.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    return tables


def dbt_env(settings: Settings) -> dict[str, str]:
    """The environment a dbt run on Spark reads (warehouse/profiles.yml)."""
    return {
        "SHOPFLOW_WAREHOUSE_ENGINE": "spark",
        "SHOPFLOW_SPARK_DIR": str(settings.spark_dir),
        "SHOPFLOW_SPARK_MASTER": settings.spark_master,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_dbt(settings: Settings, args: Sequence[str], target_path: Path) -> None:
    """``dbt <args>`` on Spark in this process, so it runs in this process's session (one JVM
    for every build and for MLlib). Raises with dbt's own message on failure."""
    from dbt.cli.main import dbtRunner

    spark_session(settings)  # fails early, naming the Java package, when Spark cannot start
    with _environ(dbt_env(settings)):  # dbt reads its env_var()s from os.environ
        result = dbtRunner().invoke(
            [
                *args,
                "--project-dir",
                str(DBT_DIR),
                "--profiles-dir",
                str(DBT_DIR),
                "--target",
                "spark",
                "--target-path",
                str(target_path),
                "--log-path",
                str(target_path / "logs"),
            ]  # fmt: skip
        )
    if not result.success:
        raise RuntimeError(f"dbt {' '.join(args)} on Spark failed: {result.exception or ''}")


def build_on_spark(
    settings: Settings, args: Sequence[str] = ("run",), target_path: Path | None = None
) -> None:
    """Export the raw layer from the DuckDB warehouse, then build the dbt project on Spark."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        export_raw(con, raw_dir(settings))
    run_dbt(settings, args, target_path or settings.spark_dir / "dbt")
