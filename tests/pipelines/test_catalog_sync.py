"""The OLTP catalog follows the landing catalog: missing products are inserted, a newer
landing row wins, a change made here after the landing data stays, bad rows are reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pyarrow as pa

from commerce.catalog import get_product, sync_catalog_from_landing
from pipelines.assets.catalog import oltp_catalog
from pipelines.assets.landing import LandingZoneResource
from shopflow import events, landing
from tests.serving.fakes.commerce import put_product


def _upserted(item_id: str, price: int, stock: int, at: datetime) -> events.Envelope:
    payload = {"item_id": item_id, "title": f"Item {item_id}", "category": "toys",
               "brand": "B", "price_minor": price, "currency": "USD", "stock": stock}  # fmt: skip
    return events.make_event("product.upserted", payload, occurred_at=at)


def test_admin_changes_stay_until_a_newer_landing_row(database, api_client) -> None:
    past = datetime.now(UTC) - timedelta(days=2)
    landing.write_events([_upserted("a", 500, 5, past), _upserted("b", 700, 1, past)])
    assert sync_catalog_from_landing().inserted == 2

    # a later landing row, dated in the past too (a second generate or import), still wins
    landing.write_events([_upserted("b", 650, 1, past + timedelta(days=1))])
    assert sync_catalog_from_landing().updated == 1
    assert get_product("b")["price_minor"] == 650

    put_product(api_client, "a", price=450, stock=9)  # an admin, after the landing data
    result = sync_catalog_from_landing()
    assert (result.inserted, result.updated, result.kept) == (0, 0, 2)
    assert (get_product("a")["price_minor"], get_product("a")["stock"]) == (450, 9)

    landing.write_events([_upserted("a", 399, 3, datetime.now(UTC) + timedelta(seconds=1))])
    result = sync_catalog_from_landing()
    assert (result.updated, result.kept) == (1, 1)  # the newer import wins
    assert (get_product("a")["price_minor"], get_product("a")["stock"]) == (399, 3)


def test_invalid_landing_rows_are_rejected_with_a_reason(database) -> None:
    now = datetime.now(UTC)
    good = _upserted("ok", 100, 1, now).to_row()
    bad = {**_upserted("bad", 100, 1, now).to_row(), "currency": "usd"}
    landing.write_table("product.upserted", pa.Table.from_pylist([good, bad]))
    result = sync_catalog_from_landing()
    assert result.inserted == 1 and set(result.rejected) == {"bad"}
    assert result.rejected["bad"].startswith("currency: ")


def test_asset_reports_its_counts(database, shopflow_home) -> None:
    landing.write_events([_upserted("x", 100, 1, datetime.now(UTC))])
    result = dg.materialize(
        [oltp_catalog],
        resources={"landing_zone": LandingZoneResource(home=str(shopflow_home.home_dir))},
    )
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert metadata["inserted"].value == 1 and metadata["rejected"].value == 0
