"""The warehouse on both engines: the same landing files (a small generated shop) built by
dbt on DuckDB and on Spark (dbt-spark, a local session) give the same marts, row for row."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipelines import spark_warehouse
from pipelines.raw_load import load_landing
from shopflow.config import Settings
from shopflow.generate import generate_shop
from shopflow.spark import JAVA_HINT, SparkUnavailable, spark_session

DBT = str(Path(sys.executable).parent / "dbt")
#: Columns stamped at build time, not computed from the data.
BUILD_STAMPS = frozenset({"built_at"})
FLOAT_TOLERANCE = 1e-9
#: Marts the generated shop fills (it simulates no A/B test and sends no notifications).
MUST_HAVE_ROWS = frozenset(
    {
        "fct_interactions",
        "fct_payments",
        "dim_users",
        "dim_items",
        "daily_revenue",
        "mart_funnel_daily",
        "mart_revenue_daily",
        "mart_product_daily",
        "mart_recs_daily",
        "mart_cohort_retention_weekly",
        "mart_wishlist_conversion",
        "mart_most_wishlisted",
    }
)


def dbt_on_duckdb(settings: Settings, *args: str) -> None:
    """dbt on DuckDB in its own process (dbt-duckdb keeps the file open in its process)."""
    work = settings.home_dir / "dbt-duckdb"
    env = os.environ | {"SHOPFLOW_WAREHOUSE_PATH": str(settings.warehouse_path)}
    done = subprocess.run(
        [
            DBT,
            *args,
            "--project-dir",
            str(spark_warehouse.DBT_DIR),
            "--profiles-dir",
            str(spark_warehouse.DBT_DIR),
            "--target",
            "duckdb",
            "--target-path",
            str(work),
            "--log-path",
            str(work / "logs"),
        ],  # fmt: skip
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"dbt {args} on DuckDB failed:\n{done.stdout[-6000:]}"


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = Settings(home=tmp_path_factory.mktemp("engines"), spark_master="local[2]")
    settings.ensure_dirs()
    generate_shop(60, 6, 3, start=date(2024, 3, 1), settings=settings, progress=False)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        load_landing(con, settings.landing_dir)
    dbt_on_duckdb(settings, "run")
    spark_warehouse.build_on_spark(settings, ["run"])
    yield settings


def _cell(value: object) -> object:
    """One engine-neutral form per value: instants in UTC without tzinfo, decimals as floats."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, Decimal):
        return float(value)
    return value


def _sort_key(row: tuple[object, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((v is None, str(v)) for v in row)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)  # type: ignore[arg-type]
    return a == b


def duckdb_mart(settings: Settings, table: str, columns: list[str]) -> list[tuple[object, ...]]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        rows = con.execute(f"select {', '.join(columns)} from main.{table}").fetchall()
    return sorted((tuple(_cell(v) for v in r) for r in rows), key=_sort_key)


def spark_mart(settings: Settings, table: str, columns: list[str]) -> list[tuple[object, ...]]:
    rows = spark_session(settings).table(f"main.{table}").select(*columns).collect()
    return sorted((tuple(_cell(v) for v in r) for r in rows), key=_sort_key)


def marts(settings: Settings) -> dict[str, list[str]]:
    """Every table dbt built in the marts schema on DuckDB, with its data columns."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute(
            """select table_name, column_name from information_schema.columns
               where table_schema = 'main' order by table_name, ordinal_position"""
        ).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        if column not in BUILD_STAMPS:
            out.setdefault(table, []).append(column)
    return out


def test_every_mart_is_equal_on_duckdb_and_spark(both_engines: Settings) -> None:
    tables = marts(both_engines)
    assert {"fct_interactions", "dim_users", "dim_items", "mart_revenue_daily"} <= set(tables)
    spark_tables = {t.name for t in spark_session(both_engines).catalog.listTables("main")}
    assert set(tables) <= spark_tables
    for table, columns in sorted(tables.items()):
        on_duckdb = duckdb_mart(both_engines, table, columns)
        on_spark = spark_mart(both_engines, table, columns)
        if table in MUST_HAVE_ROWS:
            assert on_duckdb, f"{table} is empty: the shop is too small to compare it"
        assert len(on_spark) == len(on_duckdb), f"{table}: row counts differ"
        for left, right in zip(on_duckdb, on_spark, strict=True):
            assert all(_same(a, b) for a, b in zip(left, right, strict=True)), (
                f"{table} differs:\n duckdb {dict(zip(columns, left, strict=True))}\n"
                f" spark  {dict(zip(columns, right, strict=True))}"
            )


def test_no_java_names_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(SparkUnavailable, match="openjdk-17-jre-headless"):
        spark_session(Settings(home=tmp_path))
    assert "apt-get install -y openjdk-17-jre-headless" in JAVA_HINT
