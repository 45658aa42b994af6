"""Wishlists, sharing and price-drop / back-in-stock alerts, over HTTP on both databases."""

from __future__ import annotations

import json

from sqlalchemy import select

from commerce.db import session_scope
from commerce.db.models.core import OutboxEvent
from commerce.wishlists.alerts import handle_catalog_event
from pipelines.streaming.runner import Record
from pipelines.streaming.wishlist_alerts import WishlistAlertsProcessor
from shopflow import events
from tests.serving.test_reviews_fixtures import auth, put_product


def outbox(event_type: str) -> list[events.Envelope]:
    with session_scope() as session:
        rows = session.scalars(
            select(OutboxEvent.envelope_json)
            .where(OutboxEvent.event_type == event_type)
            .order_by(OutboxEvent.id)
        ).all()
    return [events.parse_event(json.loads(r)) for r in rows]


def new_wishlist(client, user: str, name: str, *products: str) -> str:
    created = client.post("/api/wishlists", json={"name": name}, headers=auth(user))
    assert created.status_code == 201, created.text
    wid = created.json()["id"]
    for pid in products:
        added = client.post(
            f"/api/wishlists/{wid}/items", json={"product_id": pid}, headers=auth(user)
        )
        assert added.status_code == 201, added.text
    return wid


def deliver(catalog_events: list[events.Envelope]) -> int:
    """What the wishlist-alerts consumer does with a batch from the catalog topic."""
    records = [
        Record(event=e, topic="catalog", partition=0, offset=i, size=len(e.model_dump_json()))
        for i, e in enumerate(catalog_events)
    ]
    return WishlistAlertsProcessor().process(records)


def test_wishlist_crud_and_price_at_add(api_client) -> None:
    put_product(api_client, "p1", price=2500)
    put_product(api_client, "p2", price=900)
    wid = new_wishlist(api_client, "u1", "Birthday", "p1", "p2")
    new_wishlist(api_client, "u1", "Later")
    dup = api_client.post("/api/wishlists", json={"name": "Later"}, headers=auth("u1"))
    assert dup.status_code == 409
    put_product(api_client, "p1", price=2000)  # the recorded price stays the add-time price
    got = api_client.get(f"/api/wishlists/{wid}", headers=auth("u1")).json()
    p1 = next(i for i in got["items"] if i["product_id"] == "p1")
    assert (p1["price_at_add_minor"], p1["current_price_minor"]) == (2500, 2000)
    assert [
        w["name"] for w in api_client.get("/api/wishlists", headers=auth("u1")).json()["items"]
    ] == ["Birthday", "Later"]
    assert api_client.get(f"/api/wishlists/{wid}", headers=auth("u2")).status_code == 404

    renamed = api_client.patch(f"/api/wishlists/{wid}", json={"name": "Gifts"}, headers=auth("u1"))
    assert renamed.json()["name"] == "Gifts"
    removed = api_client.delete(f"/api/wishlists/{wid}/items/p2", headers=auth("u1"))
    assert [i["product_id"] for i in removed.json()["items"]] == ["p1"]
    assert api_client.delete(f"/api/wishlists/{wid}", headers=auth("u1")).status_code == 204
    assert api_client.get(f"/api/wishlists/{wid}", headers=auth("u1")).status_code == 404
    assert [e.payload.item_id for e in outbox("wishlist_add")] == ["p1", "p2"]
    assert sorted(e.payload.item_id for e in outbox("wishlist_remove")) == ["p1", "p2"]


def test_share_token_gives_read_only_view_until_revoked(api_client) -> None:
    put_product(api_client, "p1")
    wid = new_wishlist(api_client, "u1", "Wedding", "p1")
    token = api_client.post(f"/api/wishlists/{wid}/share", headers=auth("u1")).json()["share_token"]
    assert len(token) >= 40
    public = api_client.get(f"/api/shared/wishlists/{token}")
    assert public.status_code == 200
    assert public.json()["name"] == "Wedding" and "user_id" not in public.json()
    assert api_client.post(f"/api/wishlists/{wid}/share", headers=auth("u2")).status_code == 404
    api_client.delete(f"/api/wishlists/{wid}/share", headers=auth("u1"))
    gone = api_client.get(f"/api/shared/wishlists/{token}")
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("application/problem+json")


def test_price_drop_emits_exactly_one_alert_per_wishlisting_user(api_client) -> None:
    put_product(api_client, "p1", price=10_000)
    new_wishlist(api_client, "u1", "A", "p1")
    new_wishlist(api_client, "u1", "B", "p1")  # same user, two lists: still one alert
    new_wishlist(api_client, "u2", "A", "p1")
    put_product(api_client, "p1", price=9_500)
    new_wishlist(api_client, "u3", "A", "p1")  # added at 9,500
    new_wishlist(api_client, "u4", "A")  # does not hold p1

    put_product(api_client, "p1", price=8_900)  # -11% from 10,000, -6.3% from 9,500
    changes = outbox("product.price_changed")
    assert deliver(changes) == 1
    alerts = outbox("wishlist.price_drop")
    assert sorted(a.user_id for a in alerts) == ["u1", "u2"]
    assert {(a.payload.price_at_add_minor, a.payload.current_price_minor) for a in alerts} == {
        (10_000, 8_900)
    }
    deliver(changes)  # redelivery of the same events emits nothing new
    assert len(outbox("wishlist.price_drop")) == 2

    put_product(api_client, "p1", price=9_000)  # a rise alerts nobody
    put_product(api_client, "p1", price=8_000)  # a new drop is a new change: new alerts
    deliver(outbox("product.price_changed"))
    users = sorted(a.user_id for a in outbox("wishlist.price_drop"))
    assert users == ["u1", "u1", "u2", "u2", "u3"]


def test_back_in_stock_alerts_once_per_user(api_client) -> None:
    put_product(api_client, "p1", price=3000, stock=0)
    new_wishlist(api_client, "u1", "A", "p1")
    new_wishlist(api_client, "u2", "A", "p1")
    put_product(api_client, "p1", price=3000, stock=4)
    put_product(api_client, "p1", price=3000, stock=2)  # still in stock: no alert
    stock_events = outbox("product.stock_changed")
    with session_scope() as session:
        first = [handle_catalog_event(session, e) for e in stock_events]
    assert [len(f) for f in first] == [2, 0]
    with session_scope() as session:
        assert handle_catalog_event(session, stock_events[0]) == []
    alerts = outbox("wishlist.back_in_stock")
    assert sorted(a.user_id for a in alerts) == ["u1", "u2"]
    assert all(a.payload.current_price_minor == 3000 for a in alerts)
