"""Orders: priced from the catalog, stock reserved atomically, owner-only access."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from commerce import orders
from commerce.errors import Conflict
from tests.serving.fakes.commerce import ADMIN, auth, outbox, place_order, put_product


def test_place_list_cancel(api_client) -> None:
    put_product(api_client, "p1", price=500, stock=4)
    put_product(api_client, "p2", price=250, stock=1)
    alice = auth("alice")
    order = place_order(api_client, "alice", [("p1", 1), ("p2", 1), ("p1", 2)])
    assert order["status"] == "PLACED" and order["total_minor"] == 3 * 500 + 250
    assert api_client.get("/api/products/p1").json()["stock"] == 1
    unknown = api_client.post(
        "/api/orders", json={"lines": [{"product_id": "nope", "quantity": 1}]}, headers=alice
    )
    assert unknown.status_code == 422 and unknown.json()["unknown_products"] == ["nope"]
    short = api_client.post(
        "/api/orders", json={"lines": [{"product_id": "p2", "quantity": 1}]}, headers=alice
    )
    assert short.status_code == 409 and short.json()["available"] == 0
    assert api_client.get(f"/api/orders/{order['id']}", headers=auth("bob")).status_code == 404
    assert api_client.get("/api/orders", headers=alice).json()["total"] == 1
    assert api_client.get("/api/orders", headers=auth("bob")).json()["total"] == 0
    assert (
        api_client.get("/api/orders?user_id=alice", headers=auth(ADMIN, "admin")).json()["total"]
        == 1
    )
    assert (
        api_client.post(f"/api/orders/{order['id']}/cancel", headers=auth("bob")).status_code == 404
    )
    cancelled = api_client.post(f"/api/orders/{order['id']}/cancel", headers=alice)
    assert cancelled.json()["status"] == "CANCELLED"
    assert api_client.get("/api/products/p1").json()["stock"] == 4
    again = api_client.post(f"/api/orders/{order['id']}/cancel", headers=alice)
    assert again.status_code == 409 and again.json()["current_status"] == "CANCELLED"
    assert [e["event_type"] for e in outbox() if e["event_type"].startswith("order")] == [
        "order_placed", "order_cancelled",
    ]  # fmt: skip
    assert api_client.post("/api/orders", json={"lines": []}, headers=alice).status_code == 422
    assert (
        api_client.post(
            "/api/orders", json={"lines": [{"product_id": "p1", "quantity": 1}]}
        ).status_code
        == 401
    )


def test_no_oversell_under_concurrency(api_client) -> None:
    put_product(api_client, "hot", price=100, stock=5)
    body = orders.OrderIn(lines=[orders.OrderLineIn(product_id="hot", quantity=1)])

    def buy(i: int) -> str:
        try:
            return orders.place_order(f"user{i}", body)["id"]
        except Conflict:
            return "sold out"

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(buy, range(24)))
    assert sum(r != "sold out" for r in results) == 5
    assert api_client.get("/api/products/hot").json()["stock"] == 0
    stock_events = [e["payload"]["new_stock"] for e in outbox("product.stock_changed")]
    assert sorted(stock_events) == [0, 1, 2, 3, 4]
