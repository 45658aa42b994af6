"""Vendor adapters (SendGrid v3, Twilio, FCM HTTP v1 with a service-account OAuth token)
against local servers checking the exact requests, and the signed status webhooks."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from commerce.notifications.channels.base import ChannelError, OutgoingMessage
from commerce.notifications.channels.fcm import FcmPush, ServiceAccountTokenProvider
from commerce.notifications.channels.sendgrid import SendGridEmail
from commerce.notifications.channels.twilio import TwilioSms
from commerce.notifications.webhooks import twilio_signature
from shopflow.config import get_settings
from tests.serving.fakes.commerce import auth
from tests.serving.fakes.notifications import (  # noqa: F401  (fixtures)
    notify_settings,
    smtp,
)
from tests.serving.fakes.notify_vendors import (
    FCM_PROJECT,
    SENDGRID_KEY,
    TWILIO_SID,
    TWILIO_TOKEN,
    FakeFcm,
    FakeSendGrid,
    FakeTwilio,
)

MSG = OutgoingMessage(delivery_id="d1", user_id="u1", to="ann@example.com", subject="Hi",
                      text="Plain", html="<p>Rich</p>", data={"order": 7})  # fmt: skip


def test_sendgrid_sends_the_v3_mail_send_request() -> None:
    fake = FakeSendGrid()
    with fake.running() as server:
        channel = SendGridEmail(SENDGRID_KEY, "Shop <shop@example.com>", server.url)
        result = channel.send(MSG)
        fake.fail_next, fake.fail_status = 1, 400
        with pytest.raises(ChannelError) as bad:
            channel.send(MSG)
        fake.fail_next, fake.fail_status = 1, 429
        with pytest.raises(ChannelError) as limited:
            channel.send(MSG)
        wrong_key = SendGridEmail("SG.wrong", "shop@example.com", server.url)
        with pytest.raises(ChannelError, match="HTTP 401"):
            wrong_key.send(MSG)
        channel.close()
        wrong_key.close()
    assert result.provider == "sendgrid" and result.provider_message_id
    assert not bad.value.retryable and limited.value.retryable
    assert fake.sent[0] == {
        "personalizations": [{"to": [{"email": "ann@example.com"}]}],
        "from": {"email": "shop@example.com", "name": "Shop"},
        "subject": "Hi",
        "content": [{"type": "text/plain", "value": "Plain"},
                    {"type": "text/html", "value": "<p>Rich</p>"}],
        "custom_args": {"delivery_id": "d1"},
    }  # fmt: skip


def test_twilio_sends_a_form_encoded_message_with_basic_auth() -> None:
    fake = FakeTwilio()
    sms = OutgoingMessage(delivery_id="d2", user_id="u1", to="+14155550100", subject=None,
                          text="Your order shipped")  # fmt: skip
    with fake.running() as server:
        channel = TwilioSms(TWILIO_SID, TWILIO_TOKEN, "+15005550006", server.url,
                            "https://api.example/cb")  # fmt: skip
        result = channel.send(sms)
        fake.fail_next, fake.fail_status = 1, 503
        with pytest.raises(ChannelError) as unavailable:
            channel.send(sms)
        channel.close()
    assert result.provider_message_id.startswith("SM")
    assert unavailable.value.retryable
    request = next(r for r in fake.requests if r["path"].endswith("/Messages.json"))
    assert request["path"] == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert dict(parse_qsl(request["body"].decode())) == {
        "To": "+14155550100", "From": "+15005550006", "Body": "Your order shipped",
        "StatusCallback": "https://api.example/cb"}  # fmt: skip


def test_fcm_v1_push_with_a_service_account_token() -> None:
    fake = FakeFcm()
    push = OutgoingMessage(delivery_id="d3", user_id="u1", to="device-token-1",
                           subject="Price drop", text="sku-1: $9.99", data={"n": 1})  # fmt: skip
    with fake.running() as server:
        tokens = ServiceAccountTokenProvider(fake.service_account(server.url))
        channel = FcmPush(FCM_PROJECT, tokens, server.url)
        first = channel.send(push)
        channel.send(push)  # the token is cached
        fake.tokens.clear()  # expired server-side: one 401, a fresh token, success
        third = channel.send(push)
        channel.close()
    assert first.provider_message_id.startswith(f"projects/{FCM_PROJECT}/messages/")
    assert third.provider == "fcm"
    assert len([r for r in fake.requests if r["path"] == "/token"]) == 2
    assert fake.sent[0] == {"token": "device-token-1",
                            "notification": {"title": "Price drop", "body": "sku-1: $9.99"},
                            "data": {"n": "1", "delivery_id": "d3"}}  # fmt: skip


# ---- signed status webhooks through the API ----------------------------------------------
@pytest.fixture
def vendor_client(notify_settings, monkeypatch) -> Iterator[tuple]:  # noqa: F811
    sendgrid, twilio = FakeSendGrid(), FakeTwilio()
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with sendgrid.running() as sg, twilio.running() as tw:
        env = {"SHOPFLOW_NOTIFY_EMAIL_PROVIDER": "sendgrid", "SENDGRID_API_KEY": SENDGRID_KEY,
               "SHOPFLOW_SENDGRID_BASE_URL": sg.url, "TWILIO_ACCOUNT_SID": TWILIO_SID,
               "TWILIO_AUTH_TOKEN": TWILIO_TOKEN, "SHOPFLOW_TWILIO_FROM_NUMBER": "+15005550006",
               "SHOPFLOW_TWILIO_BASE_URL": tw.url,
               "SHOPFLOW_SENDGRID_WEBHOOK_PUBLIC_KEY": base64.b64encode(public).decode(),
               }  # fmt: skip
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        from serving.app import create_app

        with TestClient(create_app()) as client:
            yield client, key, sendgrid, twilio


def sendgrid_post(client: TestClient, key: ec.EllipticCurvePrivateKey, items: list,
                  tamper: bool = False):  # fmt: skip
    body = json.dumps(items).encode()
    timestamp = str(int(time.time()))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return client.post(
        "/api/notifications/webhooks/sendgrid",
        content=body + (b" " if tamper else b""),
        headers={"Content-Type": "application/json",
                 "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                 "X-Twilio-Email-Event-Webhook-Timestamp": timestamp},
    )  # fmt: skip


def test_status_webhooks_update_delivery_records(vendor_client) -> None:
    client, key, sendgrid, twilio = vendor_client
    prefs = {"email": "v@example.com", "phone": "+14155550100"}
    assert client.put("/api/notifications/preferences", json=prefs,
                      headers=auth("v1")).status_code == 200  # fmt: skip
    data = {"order_id": "o-1", "payment_id": "p-1", "amount_minor": 999, "currency": "USD",
            "status": "failed", "failure_reason": "card_declined", "refunded_minor": 0,
            "event_type": "payment.failed"}  # fmt: skip
    headers = {**auth("a", "admin"), "Idempotency-Key": "wh-1"}
    body = {"workflow": "payment_notice", "user_id": "v1", "data": data}
    resp = client.post("/api/notifications/trigger", headers=headers, json=body)
    assert resp.status_code == 202, resp.text
    assert twilio.sent[0]["Body"].startswith("Shopflow: payment for order o-1 failed")
    assert sendgrid.sent[0]["subject"] == "Your payment for order o-1 failed"

    def records() -> dict:
        items = client.get("/api/notifications", headers=auth("v1")).json()["items"]
        return {d["channel"]: d for d in items[0]["deliveries"]}

    sms, email = records()["sms"], records()["email"]
    assert (sms["status"], email["status"]) == ("sent", "sent")

    url = "http://testserver/api/notifications/webhooks/twilio"
    form = {"MessageSid": sms["provider_message_id"], "MessageStatus": "delivered",
            "AccountSid": TWILIO_SID}  # fmt: skip
    forged = client.post(url, data=form, headers={"X-Twilio-Signature": "bm9wZQ=="})
    assert forged.status_code == 403
    signed = {"X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, form.items())}
    assert client.post(url, data=form, headers=signed).json() == {"updated": 1}
    late = {**form, "MessageStatus": "sent"}  # out of order: never goes back
    signed_late = {"X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, late.items())}
    assert client.post(url, data=late, headers=signed_late).json() == {"updated": 0}
    assert records()["sms"]["status"] == "delivered"

    bounce = [{"event": "bounce", "email": "v@example.com", "reason": "550 no such user",
               "sg_message_id": email["provider_message_id"] + ".filter0001.1.0",
               "timestamp": int(time.time())}]  # fmt: skip
    assert sendgrid_post(client, key, bounce, tamper=True).status_code == 403
    assert sendgrid_post(client, key, bounce).json() == {"updated": 1}
    bounced = records()["email"]
    assert bounced["status"] == "bounced" and "550" in bounced["last_error"]
    stats = client.get("/api/notifications/stats", headers=auth("a", "admin")).json()["items"]
    by_channel = {s["channel"]: s for s in stats if s["workflow"] == "payment_notice"}
    assert by_channel["sms"]["delivery_rate"] == 1.0 and by_channel["email"]["bounced"] == 1
