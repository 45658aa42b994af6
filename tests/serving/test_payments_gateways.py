"""Both processor flows end to end over HTTP: Stripe (the SDK against localstripe) and
PayPal Orders v2 (httpx against the local PayPal server), with their webhooks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

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
from tests.serving.fakes.paypal_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    FakePayPal,
    RunningFake,
    sign,
)


def test_stripe_flow(stripe_env, api_client) -> None:  # noqa: F811
    put_product(api_client, "p1", price=1999, stock=3)
    alice, admin = auth("alice"), auth(ADMIN, "admin")
    order = place_order(api_client, "alice", [("p1", 1)])
    pay = api_client.post("/api/payments", json=payment_body(order, method="STRIPE"), headers=alice)
    assert pay.status_code == 201, pay.text
    pay = pay.json()
    assert pay["gateway"] == "stripe" and pay["card_last4"] == "4242"
    done = api_client.post(f"/api/payments/{pay['id']}/confirm", headers=alice).json()
    assert done["status"] == "COMPLETED" and done["captured_minor"] == 1999
    part = api_client.post(
        f"/api/payments/{pay['id']}/refund", json={"amount_minor": 999}, headers=admin
    )
    assert part.json()["status"] == "PARTIALLY_REFUNDED"
    rest = api_client.post(f"/api/payments/{pay['id']}/refund", headers=admin).json()
    assert rest["status"] == "REFUNDED" and rest["refunded_minor"] == 1999
    # a declined card, then a cancelled intent
    order2 = place_order(api_client, "alice", [("p1", 1)])
    body = payment_body(order2, token="pm_card_chargeCustomerFail", method="STRIPE")
    bad = api_client.post("/api/payments", json=body, headers=alice).json()
    declined = api_client.post(f"/api/payments/{bad['id']}/confirm", headers=alice)
    assert declined.status_code == 402 and declined.json()["payment_status"] == "FAILED"
    other = api_client.post(
        "/api/payments", json=payment_body(order2, method="STRIPE"), headers=alice
    )
    cancelled = api_client.post(f"/api/payments/{other.json()['id']}/cancel", headers=alice)
    assert cancelled.json()["status"] == "CANCELLED"
    unknown = api_client.post(
        "/api/payments", json=payment_body(order2, token="pm_nope", method="STRIPE"), headers=alice
    )
    assert unknown.status_code in (422, 503)


@pytest.fixture
def paypal(database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePayPal]:
    fake = FakePayPal()
    with RunningFake(fake) as running:
        monkeypatch.setenv("PAYPAL_BASE_URL", running.url)
        monkeypatch.setenv("PAYPAL_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("PAYPAL_CLIENT_SECRET", CLIENT_SECRET)
        get_settings.cache_clear()
        yield fake


def paypal_webhook(event: dict, valid: bool = True) -> tuple[bytes, dict]:
    tid, when = uuid.uuid4().hex, "2026-01-01T00:00:00Z"
    canonical = json.dumps(event, separators=(",", ":"), sort_keys=True).encode()
    sig = sign(tid, when, get_settings().paypal_webhook_id, canonical)
    headers = {
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        "PAYPAL-CERT-URL": "https://api.paypal.test/cert.pem",
        "PAYPAL-TRANSMISSION-ID": tid,
        "PAYPAL-TRANSMISSION-SIG": sig if valid else sig[::-1],
        "PAYPAL-TRANSMISSION-TIME": when,
        "Content-Type": "application/json",
    }
    return json.dumps(event).encode(), headers


def test_paypal_flow_and_webhooks(paypal, api_client) -> None:
    put_product(api_client, "p1", price=1234, stock=5)
    alice, admin = auth("alice"), auth(ADMIN, "admin")
    order = place_order(api_client, "alice", [("p1", 2)])
    body = {**payment_body(order, method="PAYPAL"), "payment_method": None}
    pay = api_client.post("/api/payments", json=body, headers=alice).json()
    assert pay["gateway"] == "paypal" and pay["next_action"]["type"] == "redirect_to_url"
    done = api_client.post(f"/api/payments/{pay['id']}/confirm", headers=alice).json()
    assert done["status"] == "COMPLETED" and done["captured_minor"] == 2468
    refunded = api_client.post(
        f"/api/payments/{pay['id']}/refund", json={"amount_minor": 468}, headers=admin
    )
    assert refunded.json()["status"] == "PARTIALLY_REFUNDED"
    # exactly the requests PayPal expects
    created = next(r for r in paypal.requests if r["path"] == "/v2/checkout/orders")
    assert created["headers"]["paypal-request-id"] and created["headers"][
        "authorization"
    ].startswith("Bearer ")
    assert json.loads(created["body"])["purchase_units"][0]["amount"] == {
        "currency_code": "USD",
        "value": "24.68",
    }
    refund_req = next(r for r in paypal.requests if r["path"].endswith("/refund"))
    assert json.loads(refund_req["body"]) == {"amount": {"currency_code": "USD", "value": "4.68"}}
    assert sum(r["path"] == "/v1/oauth2/token" for r in paypal.requests) == 1
    # a verified refund webhook settles the rest, once; a forged one changes nothing
    amount = {"value": "20.00", "currency_code": "USD"}
    resource = {"custom_id": pay["id"], "amount": amount}
    event = {"id": "WH-1", "event_type": "PAYMENT.CAPTURE.REFUNDED", "resource": resource}
    forged = api_client.post(
        "/api/payments/webhooks/paypal",
        content=paypal_webhook(event, False)[0],
        headers=paypal_webhook(event, False)[1],
    )
    assert forged.status_code == 400
    assert (
        api_client.get(f"/api/payments/{pay['id']}", headers=alice).json()["refunded_minor"] == 468
    )
    raw, headers = paypal_webhook(event)
    for i in range(2):
        resp = api_client.post("/api/payments/webhooks/paypal", content=raw, headers=headers)
        assert resp.status_code == 200 and resp.json()["duplicate"] is (i == 1)
    final = api_client.get(f"/api/payments/{pay['id']}", headers=alice).json()
    assert final["status"] == "REFUNDED" and final["refunded_minor"] == 2468
    # a declined capture
    order2 = place_order(api_client, "alice", [("p1", 1)])
    pay2 = api_client.post(
        "/api/payments",
        json={**payment_body(order2, method="PAYPAL"), "payment_method": None},
        headers=alice,
    ).json()
    paypal.decline_next_capture = True
    declined = api_client.post(f"/api/payments/{pay2['id']}/confirm", headers=alice)
    assert declined.status_code == 402 and declined.json()["decline_code"] == "INSTRUMENT_DECLINED"
