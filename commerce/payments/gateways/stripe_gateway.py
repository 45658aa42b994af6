"""Stripe through the official SDK (PaymentIntents: create, confirm, capture, cancel, refund;
``capture_method=manual`` for authorize-now, capture-later).

``STRIPE_API_BASE`` points the SDK at another Stripe API peer (``localstripe`` in tests)."""

from __future__ import annotations

from typing import Any

import stripe

from commerce.payments.gateways.base import GatewayError, GatewayResult, Outcome

_STATUS = {
    "requires_payment_method": Outcome.failed,
    "requires_confirmation": Outcome.created,
    "requires_action": Outcome.requires_action,
    "processing": Outcome.requires_action,
    "requires_capture": Outcome.authorized,
    "succeeded": Outcome.succeeded,
    "canceled": Outcome.cancelled,
}


class StripeGateway:
    name = "stripe"
    remote = True

    def __init__(self, api_key: str, api_base: str | None = None, timeout_s: float = 10.0):
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=2,
            http_client=stripe.new_default_http_client(timeout=timeout_s),
        )

    def _result(self, intent: Any) -> GatewayResult:
        data = intent.to_dict()
        outcome = _STATUS.get(data.get("status"), Outcome.failed)
        error = data.get("last_payment_error") or {}
        reason = (error.get("code") or "payment_failed") if outcome is Outcome.failed else None
        amount = int(data.get("amount_received") or data.get("amount") or 0)
        next_action = data.get("next_action")
        return GatewayResult(
            outcome,
            intent.id,
            failure_reason=reason,
            next_action=dict(next_action) if next_action else None,
            captured_minor=amount if outcome is Outcome.succeeded else 0,
            authorized_minor=int(data.get("amount") or 0) if outcome is Outcome.authorized else 0,
        )

    def create(
        self,
        *,
        payment_id: str,
        amount_minor: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
        capture: str = "automatic",
    ) -> GatewayResult:
        try:
            intent = self._client.v1.payment_intents.create(
                params={
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "payment_method": payment_method,
                    "capture_method": capture,
                    "metadata": {"payment_id": payment_id},
                },
                options={"idempotency_key": f"create-{idempotency_key}"},
            )
        except stripe.InvalidRequestError as exc:
            raise ValueError(f"Stripe rejected the payment method: {exc.user_message}") from exc
        except stripe.StripeError as exc:
            raise GatewayError(f"Stripe create failed: {exc}") from exc
        last4 = self._last4(payment_method)
        result = self._result(intent)
        return GatewayResult(result.outcome, result.txn_id, card_last4=last4)

    def _last4(self, payment_method: str) -> str | None:
        try:
            method = self._client.v1.payment_methods.retrieve(payment_method)
        except stripe.StripeError:
            return None
        card = method.to_dict().get("card") or {}
        return card.get("last4")

    def confirm(self, txn_id: str, *, idempotency_key: str) -> GatewayResult:
        try:
            intent = self._client.v1.payment_intents.confirm(
                txn_id, options={"idempotency_key": f"confirm-{idempotency_key}"}
            )
        except stripe.CardError as exc:
            code = exc.code or "card_declined"
            return GatewayResult(Outcome.failed, txn_id, failure_reason=code)
        except stripe.StripeError as exc:
            raise GatewayError(f"Stripe confirm failed: {exc}") from exc
        return self._result(intent)

    def capture(
        self, txn_id: str, amount_minor: int, currency: str, *, idempotency_key: str
    ) -> GatewayResult:
        try:
            intent = self._client.v1.payment_intents.capture(
                txn_id,
                params={"amount_to_capture": amount_minor},
                options={"idempotency_key": f"capture-{idempotency_key}"},
            )
        except stripe.StripeError as exc:
            raise GatewayError(f"Stripe capture failed: {exc}") from exc
        return self._result(intent)

    def cancel(self, txn_id: str, *, idempotency_key: str) -> GatewayResult:
        try:
            intent = self._client.v1.payment_intents.cancel(
                txn_id, options={"idempotency_key": f"cancel-{idempotency_key}"}
            )
        except stripe.StripeError as exc:
            raise GatewayError(f"Stripe cancel failed: {exc}") from exc
        return self._result(intent)

    def refund(
        self, txn_id: str, amount_minor: int, currency: str, *, idempotency_key: str
    ) -> GatewayResult:
        try:
            refund = self._client.v1.refunds.create(
                params={"payment_intent": txn_id, "amount": amount_minor},
                options={"idempotency_key": f"refund-{idempotency_key}"},
            )
        except stripe.StripeError as exc:
            raise GatewayError(f"Stripe refund failed: {exc}") from exc
        if refund.status not in ("succeeded", "pending"):
            return GatewayResult(Outcome.failed, txn_id, failure_reason=refund.status)
        return GatewayResult(Outcome.refunded, txn_id, refund_id=refund.id)
