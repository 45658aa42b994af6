"""Integration: landing + dbt materialized in-process on a small hand-made shop."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import pytest
from typer.testing import CliRunner

from shopflow.cli import app
from shopflow.commands.materialize import failed_steps, materialize_all
from shopflow.config import Settings, get_settings
from tests.pipelines.shop_data import view_row_bad, write_raw_rows, write_small_shop

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
    lines: list[str] = []
    result = materialize_all(settings, selection=WAREHOUSE_SELECTION, report=lines.append)
    yield settings, result, lines


def query(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_materialize_succeeds_with_progress_per_step(shop):
    _, result, lines = shop
    assert result.success, failed_steps(result)
    assert any("start" in line and "raw_events" in line for line in lines)
    assert any("success" in line and "warehouse_dbt" in line for line in lines)
    keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"raw_events", "dim_items", "dim_users", "fct_interactions", "fct_payments"} <= keys
    assert "daily_revenue" in keys


def test_dbt_tests_ran_as_passing_asset_checks(shop):
    _, result, _ = shop
    evaluations = result.get_asset_check_evaluations()
    names = {(e.asset_key.to_user_string(), e.check_name) for e in evaluations}
    assert ("fct_interactions", "not_null_fct_interactions_user_id") in names
    assert ("dim_users", "unique_dim_users_user_id") in names
    assert all(e.passed for e in evaluations), [e.check_name for e in evaluations if not e.passed]


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
