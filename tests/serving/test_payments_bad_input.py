"""Every commerce endpoint answers bad input with a 4xx problem body, never a 500."""

from __future__ import annotations

import pytest

from tests.serving.fakes.commerce import ADMIN, auth, payment_body, place_order, put_product

GOOD_PRODUCT = {"title": "T", "category": "c", "price_minor": 100, "currency": "USD", "stock": 1}
# (method, path, good body); {order}/{payment} are filled in
ENDPOINTS = [
    ("PUT", "/api/products/p9", GOOD_PRODUCT),
    ("POST", "/api/orders", {"lines": [{"product_id": "p1", "quantity": 1}]}),
    ("POST", "/api/orders/{order}/cancel", None),
    ("POST", "/api/payments", "payment"),
    ("POST", "/api/payments/{payment}/confirm", {}),
    ("POST", "/api/payments/{payment}/cancel", {"reason": "changed my mind"}),
    ("POST", "/api/payments/{payment}/refund", {"amount_minor": 100}),
    ("POST", "/api/payments/webhooks/stripe", {}),
]
BAD = {
    "bad_json": b'{"amount_minor": 12,',
    "wrong_types": {"amount_minor": "12", "price_minor": [1], "lines": "x", "quantity": "2",
                    "currency": 7, "order_id": 5, "reason": {"a": 1}},
    "negative": {"amount_minor": -5, "price_minor": -5, "stock": -1,
                 "lines": [{"product_id": "p1", "quantity": -1}]},
    "huge": {"amount_minor": 10**30, "price_minor": 10**30, "stock": 10**30,
             "lines": [{"product_id": "p1", "quantity": 10**30}]},
    "unknown_currency": {"currency": "XYZ", "amount_minor": 100},
}  # fmt: skip


@pytest.mark.parametrize("method,path,good", ENDPOINTS, ids=[e[1] for e in ENDPOINTS])
def test_bad_input_gets_a_problem(api_client, method, path, good) -> None:
    put_product(api_client, "p1", price=100, stock=50)
    order = place_order(api_client, "alice", [("p1", 1)])
    created = api_client.post("/api/payments", json=payment_body(order), headers=auth("alice"))
    assert created.status_code == 201, created.text
    pay = created.json()
    url = path.format(order=order["id"], payment=pay["id"])
    headers = auth(ADMIN, "admin") if "products" in path or "refund" in path else auth("alice")
    base = payment_body(order) if good == "payment" else (good or {})
    for name, bad in BAD.items():
        if isinstance(bad, bytes):
            resp = api_client.request(
                method, url, content=bad, headers={**headers, "Content-Type": "application/json"}
            )
        else:
            resp = api_client.request(method, url, json={**base, **bad}, headers=headers)
        assert 400 <= resp.status_code < 500, (name, resp.status_code, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json"), name
        problem = resp.json()
        assert problem["status"] == resp.status_code and problem["title"] and problem["detail"]
