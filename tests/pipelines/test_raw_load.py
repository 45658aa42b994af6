"""Landing -> raw: good rows land, bad rows are quarantined with reasons, reloads are no-ops."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines import raw_load
from shopflow import events, landing
from shopflow.config import Settings
from tests.pipelines.shop_data import DAY1, ev, small_shop, write_raw_rows, write_small_shop


@pytest.fixture
def con(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "wh.duckdb"))
    yield connection
    connection.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(home=tmp_path / "home")
    settings.ensure_dirs()
    return settings


def count(con, sql: str) -> int:
    return con.execute(sql).fetchone()[0]


def view_row(**overrides) -> dict:
    row = {
        "event_id": "v-ok",
        "event_type": "product_view",
        "schema_version": events.SCHEMA_VERSION,
        "occurred_at": DAY1,
        "user_id": "u1",
        "item_id": "i1",
    }
    return {**row, **overrides}


def test_good_events_land_in_one_table_per_event_type(con, settings):
    write_small_shop(settings)
    report = raw_load.load_landing(con, settings.landing_dir)

    shop = small_shop()
    assert report.total().rows_loaded == len(shop)
    assert report.total().rows_quarantined == 0
    assert count(con, "SELECT count(*) FROM raw.product_view") == 4
    assert con.execute("SELECT lines FROM raw.order_placed WHERE order_id = 'o2'").fetchone()[
        0
    ] == [{"item_id": "i3", "quantity": 1, "unit_price_minor": 700}]
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'"
        ).fetchall()
    }
    assert {events.table_name(t) for t in events.PAYLOADS} <= tables  # even the empty ones
    weights = dict(con.execute("SELECT event_type, weight FROM raw.event_weights").fetchall())
    assert weights == events.INTERACTION_WEIGHTS


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"event_id": ""}, "event_id is empty"),
        ({"item_id": None}, "item_id is missing"),
        ({"occurred_at": None}, "occurred_at is missing"),
        ({"schema_version": 99}, "unsupported schema_version"),
        ({"event_type": "search"}, "event_type mismatch"),
        ({"occurred_at": DAY1 + timedelta(days=3650)}, "occurred_at in the future"),
    ],
)
def test_each_kind_of_bad_row_is_quarantined_with_its_reason(con, settings, bad, reason):
    source = write_raw_rows(
        settings, "product_view", [view_row(), view_row(**{"event_id": "v-bad", **bad})]
    )
    report = raw_load.load_landing(con, settings.landing_dir)

    assert report.by_type["product_view"].rows_loaded == 1
    assert report.by_type["product_view"].rows_quarantined == 1
    rows = con.execute("SELECT event_type, source_file, reason, row FROM raw.quarantine").fetchall()
    assert len(rows) == 1
    event_type, source_file, reasons, row = rows[0]
    assert event_type == "product_view"
    assert source_file == str(source)
    assert reason in reasons.split("; ")
    assert json.loads(row)["user_id"] == "u1"  # the whole row is kept
    assert count(con, "SELECT count(*) FROM raw.product_view WHERE event_id = 'v-ok'") == 1


def test_payload_rule_breaks_are_quarantined_with_all_reasons_joined(con, settings):
    cart = {
        "event_id": "c1",
        "event_type": "add_to_cart",
        "schema_version": 1,
        "occurred_at": DAY1,
        "user_id": "u1",
        "item_id": "i1",
        "quantity": 0,
        "unit_price_minor": -5,
        "currency": "XXX",
    }
    write_raw_rows(settings, "add_to_cart", [cart])
    raw_load.load_landing(con, settings.landing_dir)

    (reason,) = con.execute("SELECT reason FROM raw.quarantine WHERE event_id = 'c1'").fetchone()
    assert set(reason.split("; ")) == {
        "quantity below 1",
        "unit_price_minor below 0",
        "unsupported currency",
    }
    assert count(con, "SELECT count(*) FROM raw.add_to_cart") == 0


def test_enum_values_are_checked(con, settings):
    session = {
        "event_id": "s1",
        "event_type": "session_start",
        "schema_version": 1,
        "occurred_at": DAY1,
        "traffic_source": "carrier-pigeon",
        "device": "mobile",
    }
    write_raw_rows(settings, "session_start", [session])
    raw_load.load_landing(con, settings.landing_dir)
    (reason,) = con.execute("SELECT reason FROM raw.quarantine").fetchone()
    assert reason.startswith("traffic_source not one of")


def test_rerun_loads_nothing_and_reload_of_same_files_is_idempotent(con, settings):
    write_small_shop(settings)
    write_raw_rows(settings, "product_view", [view_row(event_id="")])
    first = raw_load.load_landing(con, settings.landing_dir)
    raw_before = count(con, "SELECT count(*) FROM raw.product_view")

    again = raw_load.load_landing(con, settings.landing_dir)
    assert again.total().files == 0 and again.total().rows_loaded == 0

    con.execute("DELETE FROM raw._loaded_files")  # forget the bookkeeping: files are re-read
    reread = raw_load.load_landing(con, settings.landing_dir)
    assert reread.total().files == first.total().files
    assert reread.total().rows_loaded == 0
    assert reread.total().duplicates_skipped == first.total().rows_loaded
    assert count(con, "SELECT count(*) FROM raw.product_view") == raw_before
    assert count(con, "SELECT count(*) FROM raw.quarantine") == 1


def test_only_new_files_are_read(con, settings):
    write_small_shop(settings)
    raw_load.load_landing(con, settings.landing_dir)

    landing.write_events([ev("product_view", DAY1, "u7", item_id="i2")], settings)
    report = raw_load.load_landing(con, settings.landing_dir)
    assert report.total().files == 1
    assert report.by_type["product_view"].rows_loaded == 1
    files = con.execute(
        "SELECT rows FROM raw._loaded_files WHERE event_type = 'product_view' ORDER BY loaded_at"
    ).fetchall()
    assert files[-1] == (1,)


def test_duplicate_event_ids_land_once(con, settings):
    event = ev("product_view", DAY1, "u1", item_id="i1")
    landing.write_events([event], settings)
    landing.write_events([event], settings)  # e.g. a producer retry
    report = raw_load.load_landing(con, settings.landing_dir)

    assert report.by_type["product_view"].rows_loaded == 1
    assert report.by_type["product_view"].duplicates_skipped == 1
    assert count(con, "SELECT count(*) FROM raw.product_view") == 1


def test_file_missing_a_column_still_loads(con, settings):
    folder = landing.partition_dir("product_view", "2024-03-01", settings)
    folder.mkdir(parents=True)
    con.execute(
        f"""COPY (SELECT 'old-1' AS event_id, 'product_view' AS event_type, 1 AS schema_version,
        TIMESTAMPTZ '2024-03-01 10:00:00+00' AS occurred_at, 'u1' AS user_id, 'i1' AS item_id)
        TO '{folder / "old.parquet"}' (FORMAT parquet)"""
    )
    report = raw_load.load_landing(con, settings.landing_dir)
    assert report.by_type["product_view"].rows_loaded == 1
    row = con.execute("SELECT session_id, rec_request_id FROM raw.product_view").fetchone()
    assert row == (None, None)


def test_temp_files_being_written_are_ignored(con, settings):
    folder = landing.partition_dir("product_view", "2024-03-01", settings)
    folder.mkdir(parents=True)
    (folder / ".part-x.parquet.tmp").write_bytes(b"partial")
    (folder / ".part-y.parquet").write_bytes(b"partial")
    report = raw_load.load_landing(con, settings.landing_dir)
    assert report.total().files == 0


def test_event_weights_change_only_when_the_contract_does(con, settings, monkeypatch):
    raw_load.load_landing(con, settings.landing_dir)
    query = "SELECT event_type, raw_table, changed_at FROM raw.event_weights ORDER BY 1"
    first = con.execute(query).fetchall()
    assert ("product_view", "product_view", first[0][2]) in first
    assert ("purchase", None, first[0][2]) in first  # one order line, no raw table of its own

    raw_load.load_landing(con, settings.landing_dir)
    assert con.execute(query).fetchall() == first  # same weights: untouched

    monkeypatch.setitem(events.INTERACTION_WEIGHTS, "remove_from_cart", 0.5)
    raw_load.load_landing(con, settings.landing_dir)
    changed = con.execute(query).fetchall()
    assert ("remove_from_cart", "remove_from_cart", changed[0][2]) in changed
    assert changed[0][2] > first[0][2]


def test_rating_rules_across_fields_are_quarantined(con, settings):
    def rating(event_id: str, value: float, low: float = 0.5, threshold: float = 4.0) -> dict:
        return {"event_id": event_id, "event_type": "rating", "schema_version": 1,
                "occurred_at": DAY1, "user_id": "u1", "item_id": "i1", "rating": value,
                "scale_min": low, "scale_max": 5.0, "positive_threshold": threshold}  # fmt: skip

    write_raw_rows(settings, "rating", [
        rating("ok", 0.5), rating("off", 5.5), rating("empty", 5.0, low=5.0, threshold=5.0),
        rating("threshold", 3.0, threshold=6.0),
    ])  # fmt: skip
    raw_load.load_landing(con, settings.landing_dir)
    assert con.execute("SELECT event_id, rating FROM raw.rating").fetchall() == [("ok", 0.5)]
    reasons = dict(con.execute("SELECT event_id, reason FROM raw.quarantine").fetchall())
    assert reasons == {
        "off": "rating outside its scale",
        "empty": "empty rating scale",
        "threshold": "positive_threshold outside the scale",
    }
