"""Stripe and PayPal webhooks: verified, applied once, forged ones change nothing."""

from __future__ import annotations

import json
import time

import pytest
from stripe._webhook import WebhookSignature

from commerce.db import session_scope
from commerce.db.models.commerce import PaymentLedgerEntry
from shopflow.config import get_settings
from tests.serving.fakes.commerce import (  # noqa: F401  (fixtures)
    auth,
    localstripe_url,
    outbox,
    payment_body,
    place_order,
    put_product,
    stripe_env,
)

STRIPE_URL = "/api/payments/webhooks/stripe"


def stripe_headers(payload: str, secret: str | None = None, at: int | None = None) -> dict:
    secret = secret or get_settings().stripe_webhook_secret
    at = at or int(time.time())
    sig = WebhookSignature._compute_signature(f"{at}.{payload}", secret)
    return {"Stripe-Signature": f"t={at},v1={sig}", "Content-Type": "application/json"}


def intent_event(event_id: str, txn_id: str, kind: str = "payment_intent.succeeded") -> str:
    obj = {"id": txn_id, "object": "payment_intent", "amount": 2500, "amount_received": 2500}
    return json.dumps({"id": event_id, "object": "event", "type": kind, "data": {"object": obj}})


@pytest.fixture
def payment(stripe_env, api_client) -> dict:  # noqa: F811
    """A PENDING Stripe payment (a PaymentIntent on localstripe)."""
    put_product(api_client, "p1", price=1250, stock=5)
    order = place_order(api_client, "alice", [("p1", 2)])
    body = payment_body(order, method="STRIPE")
    pay = api_client.post("/api/payments", json=body, headers=auth("alice")).json()
    assert pay["gateway"] == "stripe" and pay["transaction_id"].startswith("pi_"), pay
    return pay


def _ledger_size() -> int:
    with session_scope() as session:
        return session.query(PaymentLedgerEntry).count()


def test_stripe_webhook_completes_once(api_client, payment) -> None:
    payload = intent_event("evt_1", payment["transaction_id"])
    for i in range(3):
        resp = api_client.post(STRIPE_URL, content=payload, headers=stripe_headers(payload))
        assert resp.status_code == 200, resp.text
        assert resp.json()["duplicate"] is (i > 0)
    got = api_client.get(f"/api/payments/{payment['id']}", headers=auth("alice")).json()
    assert got["status"] == "COMPLETED"
    assert len(outbox("payment.completed")) == 1 and len(outbox("order_paid")) == 1


@pytest.mark.parametrize(
    "case", ["forged", "wrong_secret", "stale", "missing", "malformed", "not_json"]
)
def test_bad_stripe_webhook_changes_nothing(api_client, payment, case) -> None:
    payload = intent_event("evt_bad", payment["transaction_id"])
    headers = stripe_headers(payload)
    if case == "forged":
        payload = payload.replace("2500", "1")  # body changed after signing
    elif case == "wrong_secret":
        headers = stripe_headers(payload, secret="whsec_attacker")
    elif case == "stale":
        headers = stripe_headers(payload, at=int(time.time()) - 301)
    elif case == "missing":
        headers = {"Content-Type": "application/json"}
    elif case == "malformed":
        payload = json.dumps({"id": "evt_x", "type": "payment_intent.succeeded"})
        headers = stripe_headers(payload)
    else:
        payload = "not json {"
        headers = stripe_headers(payload)
    before = _ledger_size()
    resp = api_client.post(STRIPE_URL, content=payload, headers=headers)
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert _ledger_size() == before
    got = api_client.get(f"/api/payments/{payment['id']}", headers=auth("alice")).json()
    assert got["status"] == "PENDING"
