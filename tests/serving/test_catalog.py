"""Catalog: admin upserts with price/stock events, public reads with filters, seeding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commerce.catalog import sync_catalog_from_landing
from shopflow import events, landing
from tests.serving.fakes.commerce import ADMIN, auth, outbox, put_product


def test_upsert_events_and_reads(api_client) -> None:
    body = {
        "title": "Mug",
        "category": "kitchen",
        "price_minor": 1000,
        "currency": "EUR",
        "stock": 3,
    }
    assert api_client.put("/api/products/m1", json=body).status_code == 401
    assert api_client.put("/api/products/m1", json=body, headers=auth("alice")).status_code == 403
    admin = auth(ADMIN, "admin")
    assert api_client.put("/api/products/m1", json=body, headers=admin).status_code == 201
    assert api_client.put("/api/products/m1", json=body, headers=admin).status_code == 200
    assert len(outbox("product.upserted")) == 1  # an unchanged PUT emits nothing
    api_client.put("/api/products/m1", json={**body, "price_minor": 800, "stock": 7}, headers=admin)
    price = outbox("product.price_changed")[0]["payload"]
    assert (price["old_price_minor"], price["new_price_minor"]) == (1000, 800)
    stock = outbox("product.stock_changed")[0]["payload"]
    assert (stock["old_stock"], stock["new_stock"]) == (3, 7)
    for i in range(5):
        put_product(api_client, f"b{i}", price=100 * (i + 1), stock=i, brand="Bolt")
    page = api_client.get("/api/products?brand=Bolt&limit=2&offset=2").json()
    assert page["total"] == 5 and [p["id"] for p in page["items"]] == ["b2", "b3"]
    assert api_client.get("/api/products?min_price=200&max_price=300").json()["total"] == 2
    assert api_client.get("/api/products?in_stock=false").json()["total"] == 1
    assert api_client.get("/api/products?q=MUG").json()["items"][0]["id"] == "m1"
    assert api_client.get("/api/products/none").status_code == 404


def test_sync_catalog_from_landing(database, api_client) -> None:
    now = datetime.now(UTC)
    evs = [
        events.make_event("product.upserted", {
            "item_id": f"i{n}", "title": f"Item {n}", "category": "toys", "brand": "B",
            "price_minor": 100 + n, "currency": "USD", "stock": 10,
        }, occurred_at=now - timedelta(days=1))
        for n in range(3)
    ] + [events.make_event("product.upserted", {
        "item_id": "i0", "title": "Item 0 v2", "category": "toys", "price_minor": 50,
        "currency": "USD", "stock": 2,
    }, occurred_at=now)]  # fmt: skip
    landing.write_events(evs)
    first = sync_catalog_from_landing()
    assert (first.inserted, first.products) == (3, 3)
    again = sync_catalog_from_landing()  # idempotent
    assert (again.inserted, again.updated, again.kept) == (0, 0, 3)
    got = api_client.get("/api/products/i0").json()
    assert (got["title"], got["price_minor"], got["stock"]) == ("Item 0 v2", 50, 2)
    assert api_client.get("/api/products?category=toys").json()["total"] == 3
