"""The payment cache never serves a body older than the database: an entry carries the
payment's version and is served only while that is still the database's."""

from __future__ import annotations

from commerce.reviews.cache import sync_client
from shopflow.online_store import keys
from tests.serving.fakes.commerce import auth, payment_body, place_order, put_product


def test_an_entry_older_than_the_database_is_not_served(api_client) -> None:
    put_product(api_client, "p1", price=1250, stock=5)
    order = place_order(api_client, "alice", [("p1", 1)])
    alice = auth("alice")
    pay = api_client.post("/api/payments", json=payment_body(order), headers=alice).json()
    url = f"/api/payments/{pay['id']}"
    assert api_client.get(url, headers=alice).headers["x-cache"] == "miss"
    hit = api_client.get(url, headers=alice)
    assert hit.headers["x-cache"] == "hit" and hit.json()["status"] == "PENDING"
    assert api_client.get(url, headers=auth("mallory")).status_code == 404  # cached or not

    redis = sync_client()
    stale = redis.get(keys.payment_cache(pay["id"]))
    assert api_client.post(f"{url}/confirm", headers=alice).json()["status"] == "COMPLETED"
    # the entry comes back, as from a Redis snapshot taken before, or a lost invalidation
    redis.set(keys.payment_cache(pay["id"]), stale)
    fresh = api_client.get(url, headers=alice)
    assert fresh.headers["x-cache"] == "miss" and fresh.json()["status"] == "COMPLETED"
    again = api_client.get(url, headers=alice)
    assert again.headers["x-cache"] == "hit" and again.json()["status"] == "COMPLETED"
