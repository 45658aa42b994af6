"""Confirm runs once per Idempotency-Key and once per payment, even when raced; a recorded
decline replays as the same 402."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.serving.fakes.commerce import auth, outbox, payment_body, place_order, put_product


@pytest.fixture
def payment(api_client) -> dict:
    put_product(api_client, "p1", price=990, stock=20)
    order = place_order(api_client, "alice", [("p1", 1)])
    headers = {**auth("alice"), "Idempotency-Key": "create-1"}
    created = api_client.post("/api/payments", json=payment_body(order), headers=headers)
    assert created.status_code == 201
    again = api_client.post("/api/payments", json=payment_body(order), headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == created.json()["id"]
    return created.json()


def test_raced_confirms_complete_once(api_client, payment) -> None:
    url = f"/api/payments/{payment['id']}/confirm"

    def confirm(i: int):
        key = "confirm-same" if i % 2 else f"confirm-{i}"  # one shared key, and distinct ones
        return api_client.post(url, headers={**auth("alice"), "Idempotency-Key": key})

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(confirm, range(24)))
    for r in responses:  # completed by one of them; a later new request finds it done
        body = r.json()
        assert (r.status_code, body.get("current_status", body["status"])) in (
            (200, "COMPLETED"), (409, "COMPLETED"),
        )  # fmt: skip
    assert any(r.status_code == 200 for r in responses)
    shared = [r for i, r in enumerate(responses) if i % 2]  # one outcome, replayed
    assert len({(r.status_code, r.text) for r in shared}) == 1
    if shared[0].status_code == 200:  # (a replayed 409 is re-raised, with no header)
        assert sum(r.headers.get("Idempotent-Replayed") != "true" for r in shared) == 1
    assert len(outbox("payment.processing")) == 1 and len(outbox("payment.completed")) == 1
    assert len(outbox("order_paid")) == 1
    kinds = [e["kind"] for e in api_client.get(url[:-8] + "/ledger", headers=auth("alice")).json()]
    assert kinds == ["created", "processing", "captured"]


def test_declined_confirm_replays_its_402(api_client) -> None:
    put_product(api_client, "p2", price=450, stock=5)
    order = place_order(api_client, "bob", [("p2", 1)])
    body = payment_body(order, token="pm_card_chargeDeclined")
    pay = api_client.post("/api/payments", json=body, headers=auth("bob")).json()
    headers = {**auth("bob"), "Idempotency-Key": "confirm-declined"}
    url = f"/api/payments/{pay['id']}/confirm"
    first = api_client.post(url, headers=headers)
    again = api_client.post(url, headers=headers)
    assert first.status_code == again.status_code == 402
    assert first.json()["decline_code"] == again.json()["decline_code"] == "card_declined"
    assert len(outbox("payment.failed")) == 1
    other_key = api_client.post(url, headers={**auth("bob"), "Idempotency-Key": "k2"})
    assert other_key.status_code == 409 and other_key.json()["current_status"] == "FAILED"
