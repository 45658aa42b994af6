"""Payments over HTTP with the embedded test gateway, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from commerce.db import session_scope
from commerce.db.models.commerce import Payment
from commerce.payments import service
from commerce.payments.gateways import GatewayResult, Outcome
from commerce.payments.ledger import Kind
from commerce.payments.service import ledger_state
from tests.serving.fakes.commerce import (
    ADMIN,
    auth,
    outbox,
    payment_body,
    place_order,
    put_product,
)


@pytest.fixture
def order(api_client) -> dict:
    put_product(api_client, "p1", price=1250, stock=50)
    return place_order(api_client, "alice", [("p1", 2)])


def test_card_flow_end_to_end(api_client, order) -> None:
    alice = auth("alice")
    created = api_client.post("/api/payments", json=payment_body(order), headers=alice)
    assert created.status_code == 201, created.text
    pay = created.json()
    assert pay["status"] == "PENDING" and pay["card_last4"] == "4242"
    assert pay["transaction_id"] and pay["billing_address"]["city"] == "Springfield"
    done = api_client.post(f"/api/payments/{pay['id']}/confirm", headers=alice)
    assert done.status_code == 200 and done.json()["status"] == "COMPLETED"
    assert api_client.get(f"/api/orders/{order['id']}", headers=alice).json()["status"] == "PAID"
    listed = api_client.get(f"/api/payments/order/{order['id']}", headers=alice).json()
    assert [p["id"] for p in listed["items"]] == [pay["id"]]
    mine = api_client.get("/api/payments/user/alice", headers=alice).json()
    assert mine["total"] == 1
    by_status = api_client.get("/api/payments/status/COMPLETED", headers=auth(ADMIN, "admin"))
    assert by_status.json()["total"] == 1
    assert api_client.get("/api/payments/status/COMPLETED", headers=alice).status_code == 403
    types = [e["event_type"] for e in outbox() if e["event_type"].startswith(("payment", "order"))]
    assert types == [
        "order_placed", "payment.created", "payment.processing", "payment.completed", "order_paid",
    ]  # fmt: skip
    # paying a PAID order again is refused
    again = api_client.post("/api/payments", json=payment_body(order), headers=alice)
    assert again.status_code == 409 and again.json()["current_status"] == "PAID"
    assert api_client.get("/api/payments/health").json()["status"] == "ok"


def test_a_confirm_records_each_step_with_the_state_it_left(api_client, order) -> None:
    """Processing and the outcome are written together; each entry and event still says the
    state its own step left, in order."""
    alice = auth("alice")
    pay = api_client.post("/api/payments", json=payment_body(order), headers=alice).json()
    api_client.post(f"/api/payments/{pay['id']}/confirm", headers=alice)
    ledger = api_client.get(f"/api/payments/{pay['id']}/ledger", headers=alice).json()
    assert [(e["seq"], e["kind"]) for e in ledger] == [
        (1, "created"), (2, "processing"), (3, "captured"),
    ]  # fmt: skip
    steps = [e["payload"] for e in outbox() if e["event_type"].startswith("payment.")]
    assert [(p["status"], p["captured_minor"]) for p in steps] == [
        ("PENDING", 0), ("PROCESSING", 0), ("COMPLETED", 2500),
    ]  # fmt: skip
    with session_scope() as session:
        row = session.get(Payment, pay["id"])
        assert row is not None and (row.status, row.version) == ("COMPLETED", 3)


def test_processing_is_kept_when_the_gateway_leaves_the_payment_open(api_client, order) -> None:
    """A confirm's processing step is written with the outcome's, and also when the outcome
    adds no step (Stripe answering ``requires_confirmation``: ``Outcome.created``)."""
    pay = api_client.post("/api/payments", json=payment_body(order), headers=auth("alice")).json()
    with session_scope() as session:
        payment = session.get(Payment, pay["id"])
        assert payment is not None and payment.gateway_txn_id is not None
        appends = service._Appends(session, payment, service._open_state(payment))
        appends.add(Kind.processing, next_action=None)
        still_open = GatewayResult(Outcome.created, payment.gateway_txn_id)
        service.apply_outcome(session, payment, still_open, appends=appends)
    alice = auth("alice")
    ledger = api_client.get(f"/api/payments/{pay['id']}/ledger", headers=alice).json()
    assert [(e["seq"], e["kind"]) for e in ledger] == [(1, "created"), (2, "processing")]
    assert api_client.get(f"/api/payments/{pay['id']}", headers=alice).json()["status"] == (
        "PROCESSING"
    )


def test_idempotency_50_concurrent_identical_requests(api_client, order) -> None:
    headers = {**auth("alice"), "Idempotency-Key": "same-key-1"}
    body = payment_body(order)

    def post(_: int):
        return api_client.post("/api/payments", json=body, headers=headers)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(post, range(50)))
    assert {r.status_code for r in responses} == {201}, responses[0].text
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 49
    with session_scope() as session:
        assert len(session.scalars(select(Payment)).all()) == 1
    assert len(outbox("payment.created")) == 1
    changed = {**body, "amount_minor": body["amount_minor"] + 1}
    reused = api_client.post("/api/payments", json=changed, headers=headers)
    assert reused.status_code == 422 and "Idempotency-Key" in reused.json()["detail"]


def test_idempotency_50_concurrent_identical_captures(api_client, order) -> None:
    alice, admin = auth("alice"), auth(ADMIN, "admin")
    body = {**payment_body(order), "capture": "manual"}
    pay = api_client.post("/api/payments", json=body, headers=alice).json()
    held = api_client.post(f"/api/payments/{pay['id']}/confirm", headers=alice).json()
    assert held["status"] == "AUTHORIZED"
    headers = {**admin, "Idempotency-Key": "capture-key-1"}

    def capture(_: int):
        url = f"/api/payments/{pay['id']}/capture"
        return api_client.post(url, json={"amount_minor": 2000}, headers=headers)

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(capture, range(50)))
    assert {r.status_code for r in responses} == {200}, responses[0].text
    assert {(r.json()["status"], r.json()["captured_minor"]) for r in responses} == {
        ("COMPLETED", 2000)
    }
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 49
    kinds = [e["kind"] for e in api_client.get(f"/api/payments/{pay['id']}/ledger",
                                               headers=alice).json()]  # fmt: skip
    assert kinds == ["created", "processing", "authorized", "captured"]
    assert len(outbox("payment.captured")) == 1
    other = api_client.post(
        f"/api/payments/{pay['id']}/capture", json={"amount_minor": 2000},
        headers={**admin, "Idempotency-Key": "capture-key-2"},
    )  # fmt: skip
    assert other.status_code == 409 and other.json()["current_status"] == "COMPLETED"


def test_partial_refunds_up_to_captured_then_refused(api_client, order) -> None:
    alice, admin = auth("alice"), auth(ADMIN, "admin")
    pay = api_client.post("/api/payments", json=payment_body(order), headers=alice).json()
    api_client.post(f"/api/payments/{pay['id']}/confirm", headers=alice)
    url = f"/api/payments/{pay['id']}/refund"
    assert api_client.post(url, json={"amount_minor": 100}, headers=alice).status_code == 403
    first = api_client.post(url, json={"amount_minor": 1000}, headers=admin)
    assert first.json()["status"] == "PARTIALLY_REFUNDED"
    too_much = api_client.post(url, json={"amount_minor": 1501}, headers=admin)
    assert too_much.status_code == 422 and too_much.json()["refundable_minor"] == 1500
    second = api_client.post(url, json={"amount_minor": 1500}, headers=admin).json()
    assert second["status"] == "REFUNDED" and second["refunded_minor"] == 2500
    refused = api_client.post(url, json={"amount_minor": 1}, headers=admin)
    assert refused.status_code == 409 and refused.json()["current_status"] == "REFUNDED"
    assert "REFUNDED" in refused.json()["detail"]
    assert api_client.get(f"/api/orders/{order['id']}", headers=alice).json()["status"] == (
        "REFUNDED"
    )
    assert len(outbox("payment.refunded")) == 2 and len(outbox("order_refunded")) == 1
    with session_scope() as session:  # the cached status agrees with the ledger
        for payment in session.scalars(select(Payment)):
            state = ledger_state(session, payment.id)
            assert (payment.status, payment.refunded_minor) == (state.status, state.refunded_minor)
    kinds = [e["kind"] for e in api_client.get(f"{url[:-7]}/ledger", headers=alice).json()]
    assert kinds.count("refunded") == 2


def test_declined_card_and_illegal_transitions(api_client, order) -> None:
    alice = auth("alice")
    body = payment_body(order, token="pm_card_chargeDeclinedInsufficientFunds")
    pay = api_client.post("/api/payments", json=body, headers=alice).json()
    declined = api_client.post(f"/api/payments/{pay['id']}/confirm", headers=alice)
    assert declined.status_code == 402
    assert declined.json()["decline_code"] == "insufficient_funds"
    assert api_client.get(f"/api/payments/{pay['id']}", headers=alice).json()["status"] == "FAILED"
    cancel = api_client.post(f"/api/payments/{pay['id']}/cancel", headers=alice)
    assert cancel.status_code == 409 and cancel.json()["current_status"] == "FAILED"
    assert len(outbox("payment.failed")) == 1
    # the order is free again: a new payment that needs action, then cancelled
    action = payment_body(order, token="pm_card_authenticationRequired")
    second = api_client.post("/api/payments", json=action, headers=alice).json()
    pending = api_client.post(f"/api/payments/{second['id']}/confirm", headers=alice).json()
    assert pending["status"] == "PROCESSING" and pending["next_action"]
    cancelled = api_client.post(f"/api/payments/{second['id']}/cancel", headers=alice)
    assert cancelled.json()["status"] == "CANCELLED"
    refund = api_client.post(f"/api/payments/{second['id']}/refund", headers=auth(ADMIN, "admin"))
    assert refund.status_code == 409


def test_no_user_reads_another_users_payment(api_client, order) -> None:
    pay = api_client.post("/api/payments", json=payment_body(order), headers=auth("alice")).json()
    url = f"/api/payments/{pay['id']}"
    assert api_client.get(url, headers=auth("alice")).headers["X-Cache"] == "miss"
    assert api_client.get(url, headers=auth("alice")).headers["X-Cache"] == "hit"
    for _ in range(2):  # cached or not, mallory gets a 404
        assert api_client.get(url, headers=auth("mallory")).status_code == 404
    assert api_client.get(url).status_code == 401
    assert api_client.get(url, headers={"Authorization": "Bearer junk"}).status_code == 401
    assert api_client.post(f"{url}/confirm", headers=auth("mallory")).status_code == 404
    assert api_client.get("/api/payments/user/alice", headers=auth("mallory")).status_code == 403
    assert (
        api_client.get(f"/api/payments/order/{order['id']}", headers=auth("mallory")).status_code
        == 404
    )
    assert api_client.get(url, headers=auth(ADMIN, "admin")).status_code == 200
    # a change invalidates the cache
    api_client.post(f"{url}/confirm", headers=auth("alice"))
    fresh = api_client.get(url, headers=auth("alice"))
    assert fresh.headers["X-Cache"] == "miss" and fresh.json()["status"] == "COMPLETED"


def test_card_data_is_rejected_and_never_stored(api_client, order) -> None:
    alice = auth("alice")
    for extra in (
        {"customer": {"name": "4111 1111 1111 1111", "email": "a@b.co"}},
        {"card_number": "4000056655665556"},
        {"cvc": "123"},
        {"billing_address": {"line1": "x", "city": "y", "postal_code": "z", "country": "US",
                             "cvv": "999"}},
    ):  # fmt: skip
        resp = api_client.post(
            "/api/payments", json={**payment_body(order), **extra}, headers=alice
        )
        assert resp.status_code == 422, extra
        assert "card data" in resp.json()["detail"] and "4111" not in resp.text
    with session_scope() as session:
        assert session.scalars(select(Payment)).all() == []
