"""Integration: landing + dbt materialized in-process on a small hand-made shop."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from rich.console import Console
from typer.testing import CliRunner

from cli.commands.materialize import failed_steps, materialize_all
from cli.main import app
from cli.progress import ProgressReport
from pipelines.assets import warehouse
from pipelines.assets.landing import QUARANTINE_CHECK
from shopflow import events, landing
from shopflow.config import Settings, get_settings
from tests.pipelines.shop_data import (
    DAY1,
    DAY2,
    ev,
    small_shop,
    view_row_bad,
    write_raw_rows,
    write_small_shop,
)

pytestmark = pytest.mark.integration

# landing + the core dbt layers (the analytics marts have their own tests)
WAREHOUSE_SELECTION = "key:raw_events or group:staging or group:intermediate or group:marts"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, object, list[str]]]:
    """One materialization of landing + dbt over a small shop in a fresh SHOPFLOW_HOME."""
    settings = Settings(home=tmp_path_factory.mktemp("shop") / "home")
    settings.ensure_dirs()
    write_small_shop(settings)
    write_raw_rows(settings, "product_view", [view_row_bad()])
    seen: list[dg.DagsterEvent] = []
    printed = io.StringIO()
    progress = ProgressReport(Console(file=printed, width=200))

    def report(event: dg.DagsterEvent) -> None:
        seen.append(event)
        progress(event)

    result = materialize_all(settings, selection=WAREHOUSE_SELECTION, report=report)
    steps = [f"{e.event_type_value} {e.step_key}" for e in seen]
    yield settings, result, steps + printed.getvalue().splitlines()


def query(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_materialize_succeeds_with_progress_per_step(shop):
    settings, result, lines = shop
    assert result.success, failed_steps(result)
    assert "STEP_START raw_events" in lines
    assert "STEP_SUCCESS warehouse_dbt" in lines
    keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"raw_events", "dim_items", "dim_users", "fct_interactions", "fct_payments"} <= keys
    assert "daily_revenue" in keys
    # dbt's parse state is kept for the next run; the run's own target folder is gone
    assert warehouse.partial_parse_cache(str(settings.warehouse_path)).exists()
    target = settings.dbt_target_dir
    assert not list(target.glob(f"warehouse_dbt-{result.run_id[:8]}-*"))
    # dbt's target/ and logs live under SHOPFLOW_HOME, never in the checkout
    assert not list((warehouse.DBT_PROJECT_DIR / "target").glob("warehouse_dbt-*"))


def test_dbt_tests_ran_as_passing_asset_checks(shop):
    _, result, _ = shop
    evaluations = [
        e for e in result.get_asset_check_evaluations() if e.check_name != QUARANTINE_CHECK
    ]
    names = {(e.asset_key.to_user_string(), e.check_name) for e in evaluations}
    assert ("fct_interactions", "not_null_fct_interactions_user_id") in names
    assert ("dim_users", "unique_dim_users_user_id") in names
    assert all(e.passed for e in evaluations), [e.check_name for e in evaluations if not e.passed]


def test_quarantine_share_check_warns_with_the_counts(shop):
    _, result, lines = shop
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == QUARANTINE_CHECK]
    assert check.asset_key.to_user_string() == "raw_events"
    assert not check.passed  # 1 bad row of 24 read is above the 1 % default
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["rows_quarantined"].value == 1
    assert check.metadata["rows_read"].value == len(small_shop()) + 1
    assert check.metadata["share_by_event_type"].value == {"product_view": 0.2}
    assert "warn    check raw_events:quarantine_share" in lines
    assert result.success  # a warning does not fail the run


def test_landing_metadata_and_quarantine(shop):
    settings, result, _ = shop
    (landed,) = [
        e
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "raw_events"
    ]
    metadata = landed.materialization.metadata
    assert metadata["rows_quarantined"].value == 1
    assert metadata["by_event_type"].value["product_view"]["rows_quarantined"] == 1
    assert query(settings, "SELECT reason FROM raw.quarantine") == [("item_id is missing",)]


def test_fct_interactions_weights_a_hand_made_user(shop):
    settings, _, _ = shop
    rows = query(
        settings,
        """SELECT item_id, weight, views, rec_clicks, wishlist_adds, add_to_carts, purchases
        FROM fct_interactions WHERE user_id = 'u1' ORDER BY item_id""",
    )
    # i1: 2 views x1 + rec_click 2 + wishlist 3 + cart 4 + one purchased line 8
    assert rows == [("i1", 19.0, 2, 1, 1, 1, 1), ("i2", 8.0, 0, 0, 0, 0, 1)]
    assert query(settings, "SELECT count(*) FROM fct_interactions WHERE user_id IS NULL") == [(0,)]


def test_dim_items_applies_price_and_stock_changes(shop):
    settings, _, _ = shop
    rows = query(
        settings,
        "SELECT item_id, price_minor, currency, stock, category_path FROM dim_items ORDER BY 1",
    )
    assert rows == [
        ("i1", 900, "USD", 5, "Apparel > Shoes"),
        ("i2", 500, "USD", 5, "Apparel > Shoes"),
        ("i3", 700, "USD", 0, "Apparel > Shoes"),
    ]


def test_dim_users_and_payments_and_daily_revenue(shop):
    settings, _, _ = shop
    users = query(
        settings,
        "SELECT user_id, country, orders, revenue_minor FROM dim_users WHERE user_id IN "
        "('u1', 'u2') ORDER BY 1",
    )
    assert users == [("u1", "DE", 1, 2000), ("u2", "FR", 1, 700)]
    payments = query(
        settings,
        "SELECT payment_id, status, amount_minor, refunded_minor FROM fct_payments ORDER BY 1",
    )
    assert payments == [("p1", "completed", 2000, 0), ("p2", "refunded", 700, 700)]
    revenue = query(
        settings,
        "SELECT revenue_date::varchar, orders, gross_minor, refunds_minor, net_minor, aov_minor "
        "FROM daily_revenue ORDER BY 1",
    )
    assert revenue == [("2024-03-01", 1, 2000, 0, 2000, 2000), ("2024-03-02", 1, 700, 700, 0, 700)]


def test_rerun_is_idempotent(shop):
    settings, _, _ = shop
    before = query(settings, "SELECT * FROM fct_interactions ORDER BY user_id, item_id")
    again = materialize_all(settings, selection="key:raw_events or key:fct_interactions")
    assert again.success
    assert query(settings, "SELECT * FROM fct_interactions ORDER BY user_id, item_id") == before
    assert query(settings, "SELECT count(*) FROM raw.quarantine") == [(1,)]


def copy_of(settings: Settings, tmp_path: Path) -> Settings:
    """A second data dir with the shop's landing zone and built warehouse."""
    copy = Settings(home=tmp_path / "home")
    shutil.copytree(settings.home_dir, copy.home_dir, ignore=shutil.ignore_patterns("dagster"))
    return copy


def set_views(settings: Settings, user: str, item: str, views: int) -> None:
    """Overwrite one fct_interactions row: shows whether a run recomputes that pair."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(
            "UPDATE fct_interactions SET views = ? WHERE user_id = ? AND item_id = ?",
            [views, user, item],
        )


def date_loads_back(settings: Settings) -> None:
    """As if the shop was loaded two days ago and u1's views of i1 one day ago (the last
    load the built fct_interactions has seen), so this run's window excludes older pairs."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        columns = con.execute(
            "SELECT schema_name, table_name, column_name FROM duckdb_columns() "
            "WHERE column_name IN ('_loaded_at', 'changed_at', 'loaded_at') "
            "AND table_name IN (SELECT table_name FROM duckdb_tables())"
        ).fetchall()
        for schema, table, column in columns:
            con.execute(f"UPDATE {schema}.{table} SET {column} = {column} - INTERVAL 2 DAY")
        day_ago = "now() - INTERVAL 1 DAY"
        pair = "user_id = 'u1' AND item_id = 'i1'"
        con.execute(f"UPDATE raw.product_view SET _loaded_at = {day_ago} WHERE {pair}")
        con.execute(f"UPDATE fct_interactions SET loaded_at = {day_ago} WHERE {pair}")


def test_incremental_marts_equal_a_full_refresh(shop, tmp_path):
    settings = copy_of(shop[0], tmp_path)
    date_loads_back(settings)
    set_views(settings, "u2", "i3", 99)  # a pair no new event touches
    landing.write_events(
        [
            ev("product_view", DAY2 + timedelta(hours=5), "u1", item_id="i1"),  # a known pair
            ev("add_to_cart", DAY2, "u2", item_id="i1", quantity=1, unit_price_minor=900,
               currency="USD"),  # a new pair
            ev("product_view", DAY1 - timedelta(days=30), "u2", item_id="i2"),  # arrives late
            ev("order_placed", DAY2 + timedelta(hours=6), "u1", order_id="o3", total_minor=500,
               currency="USD", lines=[{"item_id": "i2", "quantity": 1, "unit_price_minor": 500}]),
        ],
        settings,
    )  # fmt: skip
    marts = "key:raw_events or key:fct_payments or key:fct_interactions or key:daily_revenue"
    assert materialize_all(settings, selection=marts).success
    untouched = "SELECT views FROM fct_interactions WHERE user_id = 'u2' AND item_id = 'i3'"
    assert query(settings, untouched) == [(99,)]  # incremental: only touched pairs recomputed
    set_views(settings, "u2", "i3", 1)
    tables = {
        "fct_interactions": "SELECT * FROM fct_interactions ORDER BY user_id, item_id",
        "daily_revenue": "SELECT * FROM daily_revenue ORDER BY revenue_date, currency",
    }
    incremental = {name: query(settings, sql) for name, sql in tables.items()}
    assert ("u2", "i2") in {row[:2] for row in incremental["fct_interactions"]}

    set_views(settings, "u2", "i3", 77)
    full = materialize_all(settings, selection=marts, full_refresh=True)
    assert full.success, failed_steps(full)
    assert query(settings, untouched) == [(1,)]  # a full refresh recomputes every pair
    assert {name: query(settings, sql) for name, sql in tables.items()} == incremental


def test_interaction_weights_come_from_the_event_contract(shop, tmp_path, monkeypatch):
    settings = copy_of(shop[0], tmp_path)
    weights = {**events.INTERACTION_WEIGHTS, "product_view": 1.5, "remove_from_cart": 0.5}
    monkeypatch.setattr(events, "INTERACTION_WEIGHTS", weights)
    landing.write_events([ev("remove_from_cart", DAY2, "u1", item_id="i1", quantity=1)], settings)
    assert materialize_all(settings, selection="key:raw_events or key:fct_interactions").success
    rows = query(
        settings,
        "SELECT user_id, item_id, weight, views, purchases FROM fct_interactions ORDER BY 1, 2",
    )
    # u1/i1: 2 views x 1.5 + rec_click 2 + wishlist 3 + cart 4 + purchase 8 + removal 0.5;
    # u2/i3 has no new event but is recomputed with the new view weight
    assert rows == [
        ("u1", "i1", 20.5, 2, 1),
        ("u1", "i2", 8.0, 0, 1),
        ("u2", "i3", 9.5, 1, 1),
    ]

    # a weighted type without an item cannot be an interaction: the build says which one
    monkeypatch.setitem(weights, "search", 1.0)
    failed = materialize_all(settings, selection="key:raw_events or key:fct_interactions")
    assert failed_steps(failed) == ["warehouse_dbt"]
    (failure,) = failed.get_step_failure_events()
    assert "event type 'search' has an interaction weight" in str(failure.event_specific_data)
    assert query(settings, "SELECT count(*) FROM fct_interactions") == [(3,)]  # left as it was


def test_cli_names_the_failing_step_and_exits_non_zero(shopflow_home: Settings):
    shopflow_home.warehouse_path.mkdir()  # a directory where the DuckDB file should be
    write_small_shop(shopflow_home)
    result = CliRunner().invoke(app, ["materialize", "--select", "key:raw_events"])
    assert result.exit_code == 1
    assert "raw_events" in result.output
    assert get_settings().home_dir == shopflow_home.home_dir


def test_cli_rejects_a_bad_selection(shopflow_home: Settings):
    result = CliRunner().invoke(app, ["materialize", "--select", "key:("])
    assert result.exit_code == 2
    assert "error" in result.output
