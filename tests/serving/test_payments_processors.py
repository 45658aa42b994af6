"""Authorize and capture, release and disputes with the real processors' protocols: the
Stripe SDK against localstripe (which has no disputes: dispute events are delivered as Stripe
sends them, signed with the webhook secret) and PayPal Orders v2 against the local PayPal
server; production refuses an unconfigured processor."""

from __future__ import annotations

import json

import pytest
import stripe

from commerce.db import session_scope
from commerce.db.models.commerce import PaymentLedgerEntry, ProcessedWebhook
from shopflow.config import get_settings
from tests.serving.fakes.commerce import (  # noqa: F401  (fixtures)
    ADMIN,
    auth,
    localstripe_url,
    outbox,
    payment_body,
    place_order,
    put_product,
    stripe_env,
)
from tests.serving.test_payments_gateways import paypal, paypal_webhook  # noqa: F401
from tests.serving.test_webhooks import STRIPE_URL, stripe_headers

ALICE, SHOP = auth("alice"), auth(ADMIN, "admin")


def _ledger(client, pid: str) -> list[tuple[str, int]]:
    rows = client.get(f"/api/payments/{pid}/ledger", headers=ALICE).json()
    return [(e["kind"], e["amount_minor"]) for e in rows]


def _manual(client, method: str, price: int) -> dict:
    put_product(client, "p1", price=price, stock=5)
    order = place_order(client, "alice", [("p1", 1)])
    body = {**payment_body(order, method=method), "capture": "manual"}
    if method == "PAYPAL":
        body["payment_method"] = None
    pay = client.post("/api/payments", json=body, headers=ALICE)
    assert pay.status_code == 201, pay.text
    held = client.post(f"/api/payments/{pay.json()['id']}/confirm", headers=ALICE).json()
    assert held["status"] == "AUTHORIZED" and held["authorized_minor"] == price, held
    return held


def test_stripe_manual_capture_and_release(stripe_env, api_client) -> None:  # noqa: F811
    held = _manual(api_client, "STRIPE", 1999)
    assert held["gateway"] == "stripe"
    sdk = stripe.StripeClient("sk_test_shopflow", base_addresses={"api": stripe_env})
    intent = sdk.v1.payment_intents.retrieve(held["transaction_id"])
    assert (intent.status, intent.capture_method) == ("requires_capture", "manual")
    done = api_client.post(
        f"/api/payments/{held['id']}/capture", json={"amount_minor": 1500}, headers=SHOP
    ).json()
    assert (done["status"], done["captured_minor"]) == ("COMPLETED", 1500)
    assert sdk.v1.payment_intents.retrieve(held["transaction_id"]).status == "succeeded"
    other = _manual(api_client, "STRIPE", 700)
    released = api_client.post(f"/api/payments/{other['id']}/cancel", headers=ALICE).json()
    assert released["status"] == "CANCELLED"
    assert sdk.v1.payment_intents.retrieve(other["transaction_id"]).status == "canceled"


def _dispute_event(event_id: str, kind: str, intent: str, charge: str, **obj) -> str:
    dispute = {"id": "dp_1", "object": "dispute", "amount": 1999, "charge": charge,
               "payment_intent": intent, "currency": "usd", "reason": "fraudulent",
               "status": "needs_response", **obj}  # fmt: skip
    return json.dumps({"id": event_id, "object": "event", "type": kind,
                       "data": {"object": dispute}})  # fmt: skip


def _charge_id(sdk: stripe.StripeClient, intent_id: str) -> str:
    charge = sdk.v1.payment_intents.retrieve(intent_id).latest_charge
    return charge if isinstance(charge, str) else charge.id


def _post_stripe(client, payload: str):
    return client.post(STRIPE_URL, content=payload, headers=stripe_headers(payload))


def test_stripe_dispute_lost_then_won(stripe_env, api_client) -> None:  # noqa: F811
    put_product(api_client, "p1", price=1999, stock=5)
    sdk = stripe.StripeClient("sk_test_shopflow", base_addresses={"api": stripe_env})
    paid = []
    for _ in range(2):
        order = place_order(api_client, "alice", [("p1", 1)])
        pay = api_client.post(
            "/api/payments", json=payment_body(order, method="STRIPE"), headers=ALICE
        ).json()
        paid.append(api_client.post(f"/api/payments/{pay['id']}/confirm", headers=ALICE).json())
    lost, won = paid
    charge = _charge_id(sdk, lost["transaction_id"])
    opened = _dispute_event("evt_d1", "charge.dispute.created", lost["transaction_id"], charge)
    for i in range(2):  # applied once
        resp = _post_stripe(api_client, opened)
        assert resp.status_code == 200 and resp.json()["duplicate"] is (i == 1), resp.text
    assert api_client.get(f"/api/payments/{lost['id']}", headers=ALICE).json()["status"] == (
        "DISPUTED"
    )
    assert _post_stripe(api_client, _dispute_event(
        "evt_d2", "charge.dispute.updated", lost["transaction_id"], charge,
        status="under_review")).status_code == 200  # fmt: skip
    closed = _dispute_event(
        "evt_d3", "charge.dispute.closed", lost["transaction_id"], charge, status="lost",
        balance_transactions=[{"amount": -1999, "fee": 1500}],
    )  # fmt: skip
    assert _post_stripe(api_client, closed).status_code == 200
    got = api_client.get(f"/api/payments/{lost['id']}", headers=ALICE).json()
    assert (got["status"], got["disputed_minor"]) == ("CHARGED_BACK", 1999)
    assert _ledger(api_client, lost["id"])[-3:] == [
        ("dispute_opened", 1999), ("dispute_lost", 1999), ("dispute_fee", 1500),
    ]  # fmt: skip
    assert [e["payload"]["status"] for e in outbox("payment.dispute_opened")] == ["DISPUTED"]
    assert [e["payload"]["status"] for e in outbox("payment.dispute_closed")] == ["CHARGED_BACK"]
    reports = [(r["payload"]["kind"], r["payload"]["amount_minor"], r["payload"]["gateway"])
               for r in outbox("payment.gateway_reported")]  # fmt: skip
    assert reports == [("disputed", 1999, "stripe")] * 2 + [("dispute_lost", 1999, "stripe")]
    # a won dispute returns the payment to COMPLETED
    won_charge = _charge_id(sdk, won["transaction_id"])
    for n, (kind, status) in enumerate(
        (("charge.dispute.created", "needs_response"), ("charge.dispute.closed", "won"))
    ):
        event = _dispute_event(f"evt_w{n}", kind, won["transaction_id"], won_charge,
                               status=status)  # fmt: skip
        assert _post_stripe(api_client, event).status_code == 200
    assert api_client.get(f"/api/payments/{won['id']}", headers=ALICE).json()["status"] == (
        "COMPLETED"
    )


def test_stripe_dispute_for_unknown_charge_changes_nothing(stripe_env, api_client) -> None:  # noqa: F811
    with session_scope() as session:
        before = session.query(PaymentLedgerEntry).count()
    event = _dispute_event("evt_u1", "charge.dispute.created", "pi_unknown", "ch_unknown")
    resp = _post_stripe(api_client, event)
    assert resp.status_code == 404, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "pi_unknown" in resp.json()["detail"]
    with session_scope() as session:
        assert session.query(PaymentLedgerEntry).count() == before
        assert session.get(ProcessedWebhook, ("stripe", "evt_u1")) is None  # may come again


def test_paypal_authorize_capture_void_and_dispute(paypal, api_client) -> None:  # noqa: F811
    held = _manual(api_client, "PAYPAL", 2468)
    assert held["gateway"] == "paypal"
    created = next(r for r in paypal.requests if r["path"] == "/v2/checkout/orders")
    assert json.loads(created["body"])["intent"] == "AUTHORIZE"
    done = api_client.post(
        f"/api/payments/{held['id']}/capture", json={"amount_minor": 2000}, headers=SHOP
    ).json()
    assert (done["status"], done["captured_minor"]) == ("COMPLETED", 2000)
    capture = next(r for r in paypal.requests if r["path"].endswith("/capture")
                   and "/authorizations/" in r["path"])  # fmt: skip
    assert json.loads(capture["body"])["amount"] == {"currency_code": "USD", "value": "20.00"}
    other = _manual(api_client, "PAYPAL", 500)
    assert (
        api_client.post(f"/api/payments/{other['id']}/cancel", headers=ALICE).json()["status"]
        == "CANCELLED"
    )
    assert any(r["path"].endswith("/void") for r in paypal.requests)
    # a PayPal dispute, resolved in the buyer's favour
    resource = {"dispute_id": "PP-D-1", "disputed_transactions": [{"custom": held["id"]}],
                "dispute_amount": {"currency_code": "USD", "value": "20.00"}}  # fmt: skip
    lost = {"dispute_outcome": {"outcome_code": "RESOLVED_BUYER_FAVOUR"}}
    for n, (kind, extra) in enumerate(
        (("CUSTOMER.DISPUTE.CREATED", {}), ("CUSTOMER.DISPUTE.RESOLVED", lost))
    ):
        event = {"id": f"WH-D{n}", "event_type": kind, "resource": {**resource, **extra}}
        raw, headers = paypal_webhook(event)
        resp = api_client.post("/api/payments/webhooks/paypal", content=raw, headers=headers)
        assert resp.status_code == 200, resp.text
    got = api_client.get(f"/api/payments/{held['id']}", headers=ALICE).json()
    assert (got["status"], got["disputed_minor"]) == ("CHARGED_BACK", 2000)
    # an amount with more decimals than USD has is refused, nothing changes
    bad = {"id": "WH-BAD", "event_type": "PAYMENT.CAPTURE.REFUNDED",
           "resource": {"custom_id": other["id"], "amount": {"currency_code": "USD",
                                                             "value": "1.001"}}}  # fmt: skip
    raw, headers = paypal_webhook(bad)
    resp = api_client.post("/api/payments/webhooks/paypal", content=raw, headers=headers)
    assert resp.status_code == 400 and "decimal" in resp.json()["detail"]


@pytest.fixture
def production(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "c2hvcGZsb3ctdGVzdC1wcm9kdWN0aW9uLWtleS0zMmI="  # 32 bytes, base64
    for name, value in {
        "SHOPFLOW_ENV": "production", "SHOPFLOW_JWT_SECRET": "j" * 40,
        "STRIPE_WEBHOOK_SECRET": "whsec_" + "w" * 40, "SHOPFLOW_API_KEY_PEPPER": "p" * 40,
        "SHOPFLOW_MASTER_KEY": secret, "SHOPFLOW_PII_HASH_KEY": secret,
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    get_settings.cache_clear()


@pytest.mark.parametrize(
    "method,setting",
    [("STRIPE", "STRIPE_API_KEY"), ("PAYPAL", "PAYPAL_BASE_URL")],
)
def test_production_refuses_an_unconfigured_processor(production, api_client, method, setting):
    put_product(api_client, "p1", price=1000, stock=5)
    order = place_order(api_client, "alice", [("p1", 1)])
    body = {**payment_body(order, method=method)}
    resp = api_client.post("/api/payments", json=body, headers=auth("alice"))
    assert resp.status_code == 503, resp.text
    assert setting in resp.json()["missing_setting"] and setting in resp.json()["detail"]
    assert (
        api_client.get(f"/api/payments/order/{order['id']}", headers=auth("alice")).json()["total"]
        == 0
    )
    health = api_client.get("/api/payments/health").json()["checks"]["gateways"]
    assert health["ok"] is False and setting in health["by_method"][method]
