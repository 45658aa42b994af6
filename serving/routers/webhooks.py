"""Gateway webhooks: Stripe (``Stripe-Signature`` verified over the raw body, 300 s
tolerance) and PayPal (verified by PayPal's verify-webhook-signature postback). Forged,
stale or malformed deliveries get a 400 and change nothing; duplicates are acknowledged."""

from __future__ import annotations

import json
from typing import Any

import stripe
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from commerce.errors import DomainError, NotFound, Unavailable
from commerce.payments import gateways
from commerce.payments import webhooks as payment_webhooks
from serving.deps import SettingsDep
from serving.schemas_shop import WebhookAck

router = APIRouter(prefix="/api/payments/webhooks", tags=["payments"])
STRIPE_TOLERANCE_S = 300


class BadWebhook(DomainError):
    title = "Invalid webhook"


@router.post("/stripe", summary="Stripe events (signed)", response_model=WebhookAck)
async def stripe_webhook(request: Request, settings: SettingsDep) -> Any:
    raw = await request.body()
    signature = request.headers.get("Stripe-Signature")
    try:
        event = stripe.Webhook.construct_event(
            raw.decode("utf-8"),
            signature,
            settings.stripe_webhook_secret,
            tolerance=STRIPE_TOLERANCE_S,
        )
    except stripe.SignatureVerificationError as exc:
        raise BadWebhook(f"signature verification failed: {exc.user_message or exc}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadWebhook(f"malformed webhook payload: {exc}") from exc
    data = event.to_dict()
    if not isinstance(data.get("data", {}).get("object"), dict) or not data.get("id"):
        raise BadWebhook("malformed webhook payload: no id or data.object")
    return await run_in_threadpool(payment_webhooks.handle_stripe_event, data)


@router.post("/paypal", summary="PayPal events (verified by postback)", response_model=WebhookAck)
async def paypal_webhook(request: Request, settings: SettingsDep) -> Any:
    gateway = gateways.paypal(settings)
    if gateway is None:
        raise NotFound("PayPal is not configured (PAYPAL_BASE_URL, PAYPAL_CLIENT_ID/SECRET)")
    raw = await request.body()
    try:
        event = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadWebhook(f"malformed webhook payload: {exc}") from exc
    if not isinstance(event, dict) or not event.get("id") or not event.get("event_type"):
        raise BadWebhook("malformed webhook payload: no id or event_type")
    try:
        verified = await run_in_threadpool(
            gateway.verify_webhook, dict(request.headers), event, settings.paypal_webhook_id
        )
    except gateways.GatewayError as exc:
        raise Unavailable(f"PayPal verification unavailable: {exc}") from exc
    if not verified:
        raise BadWebhook("PayPal webhook signature verification failed")
    try:
        result = await run_in_threadpool(payment_webhooks.handle_paypal_event, event)
    except ValueError as exc:  # e.g. an amount with more decimals than its currency has
        raise BadWebhook(f"malformed webhook payload: {exc}") from exc
    return result
