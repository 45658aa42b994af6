"""PayPal Orders v2 over httpx: create (intent CAPTURE), capture, refund; webhook verification
by the ``verify-webhook-signature`` postback. OAuth2 client-credentials tokens are cached
until shortly before they expire; every POST carries a ``PayPal-Request-Id`` (PayPal's
idempotency header)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from commerce.payments.gateways.base import (
    GatewayError,
    GatewayResult,
    Outcome,
    from_decimal_string,
    to_decimal_string,
)

WEBHOOK_HEADERS = {
    "auth_algo": "PAYPAL-AUTH-ALGO",
    "cert_url": "PAYPAL-CERT-URL",
    "transmission_id": "PAYPAL-TRANSMISSION-ID",
    "transmission_sig": "PAYPAL-TRANSMISSION-SIG",
    "transmission_time": "PAYPAL-TRANSMISSION-TIME",
}


class PayPalGateway:
    name = "paypal"

    def __init__(
        self, base_url: str, client_id: str, client_secret: str, timeout_s: float = 10.0
    ) -> None:
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout_s)
        self._auth = (client_id, client_secret)
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    # ---- transport -------------------------------------------------------------------------
    def _access_token(self) -> str:
        with self._lock:
            if self._token and self._token[1] > time.monotonic():
                return self._token[0]
            try:
                resp = self._http.post(
                    "/v1/oauth2/token",
                    auth=self._auth,
                    data={"grant_type": "client_credentials"},
                    headers={"Accept": "application/json"},
                )
            except httpx.HTTPError as exc:
                raise GatewayError(f"PayPal unreachable: {exc}") from exc
            if resp.status_code != 200:
                raise GatewayError(f"PayPal OAuth failed: HTTP {resp.status_code}")
            body = resp.json()
            ttl = float(body.get("expires_in", 300))
            self._token = (body["access_token"], time.monotonic() + max(ttl - 60, 1))
            return self._token[0]

    def _post(self, path: str, body: dict[str, Any] | None, request_id: str | None) -> Any:
        headers = {
            "Authorization": f"Bearer {self._access_token()}",
            "Content-Type": "application/json",
            "Prefer": "return=representation",
        }
        if request_id:
            headers["PayPal-Request-Id"] = request_id
        try:
            resp = self._http.post(path, json=body if body is not None else {}, headers=headers)
        except httpx.HTTPError as exc:
            raise GatewayError(f"PayPal unreachable: {exc}") from exc
        if resp.status_code == 401:
            self._token = None
        if resp.status_code == 422:
            return {"__declined__": resp.json()}
        if resp.status_code >= 400:
            raise GatewayError(f"PayPal {path} failed: HTTP {resp.status_code} {resp.text[:200]}")
        return resp.json()

    # ---- the gateway interface -------------------------------------------------------------
    def create(
        self,
        *,
        payment_id: str,
        amount_minor: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
    ) -> GatewayResult:
        body = {
            "intent": "CAPTURE",
            "purchase_units": [
                {
                    "reference_id": payment_id,
                    "custom_id": payment_id,
                    "amount": {
                        "currency_code": currency,
                        "value": to_decimal_string(amount_minor, currency),
                    },
                }
            ],
        }
        order = self._post("/v2/checkout/orders", body, f"create-{idempotency_key}")
        if "__declined__" in order:
            raise ValueError(f"PayPal rejected the order: {_issue(order['__declined__'])}")
        approve = next((x["href"] for x in order.get("links", []) if x["rel"] == "approve"), None)
        return GatewayResult(
            Outcome.created,
            order["id"],
            next_action={"type": "redirect_to_url", "url": approve} if approve else None,
        )

    def confirm(self, txn_id: str, *, idempotency_key: str) -> GatewayResult:
        order = self._post(
            f"/v2/checkout/orders/{txn_id}/capture", None, f"capture-{idempotency_key}"
        )
        if "__declined__" in order:
            return GatewayResult(
                Outcome.failed, txn_id, failure_reason=_issue(order["__declined__"])
            )
        captures = [c for u in order.get("purchase_units", []) for c in u["payments"]["captures"]]
        if order.get("status") != "COMPLETED" or not captures:
            return GatewayResult(Outcome.failed, txn_id, failure_reason=order.get("status"))
        capture = captures[0]
        amount = capture["amount"]
        return GatewayResult(
            Outcome.succeeded,
            txn_id,
            captured_minor=from_decimal_string(amount["value"], amount["currency_code"]),
            extra={"capture_id": capture["id"]},
        )

    def cancel(self, txn_id: str, *, idempotency_key: str) -> GatewayResult:
        # An uncaptured PayPal order has nothing to void: it expires unapproved.
        return GatewayResult(Outcome.cancelled, txn_id)

    def refund(
        self, txn_id: str, amount_minor: int, currency: str, *, idempotency_key: str
    ) -> GatewayResult:
        capture_id = self._capture_id(txn_id)
        body = {
            "amount": {
                "currency_code": currency,
                "value": to_decimal_string(amount_minor, currency),
            }
        }
        refund = self._post(
            f"/v2/payments/captures/{capture_id}/refund", body, f"refund-{idempotency_key}"
        )
        if "__declined__" in refund:
            return GatewayResult(
                Outcome.failed, txn_id, failure_reason=_issue(refund["__declined__"])
            )
        return GatewayResult(Outcome.refunded, txn_id, refund_id=refund["id"])

    def _capture_id(self, txn_id: str) -> str:
        try:
            resp = self._http.get(
                f"/v2/checkout/orders/{txn_id}",
                headers={"Authorization": f"Bearer {self._access_token()}"},
            )
        except httpx.HTTPError as exc:
            raise GatewayError(f"PayPal unreachable: {exc}") from exc
        if resp.status_code != 200:
            raise GatewayError(f"PayPal order {txn_id}: HTTP {resp.status_code}")
        units = resp.json().get("purchase_units", [])
        captures = [c for u in units for c in u.get("payments", {}).get("captures", [])]
        if not captures:
            raise GatewayError(f"PayPal order {txn_id} has no capture to refund")
        return str(captures[0]["id"])

    def verify_webhook(
        self, headers: dict[str, str], event: dict[str, Any], webhook_id: str
    ) -> bool:
        """PayPal's postback check: True only when PayPal answers ``SUCCESS``."""
        lowered = {k.lower(): v for k, v in headers.items()}
        body: dict[str, Any] = {
            field: lowered.get(name.lower()) for field, name in WEBHOOK_HEADERS.items()
        }
        if any(v is None for v in body.values()):
            return False
        body.update(webhook_id=webhook_id, webhook_event=event)
        result = self._post("/v1/notifications/verify-webhook-signature", body, None)
        return isinstance(result, dict) and result.get("verification_status") == "SUCCESS"


def _issue(body: dict[str, Any]) -> str:
    details = body.get("details") or [{}]
    return str(details[0].get("issue") or body.get("name") or "UNPROCESSABLE_ENTITY")
