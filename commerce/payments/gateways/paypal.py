"""PayPal Orders v2 over httpx: create (intent CAPTURE, or AUTHORIZE for manual capture),
capture, authorize and the authorization's capture and void, refund; webhook verification
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
    remote = True

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
        return resp.json() if resp.content else {}

    # ---- the gateway interface -------------------------------------------------------------
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
        body = {
            "intent": "AUTHORIZE" if capture == "manual" else "CAPTURE",
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
        if self._get_order(txn_id).get("intent") == "AUTHORIZE":
            return self._authorize(txn_id, idempotency_key)
        order = self._post(
            f"/v2/checkout/orders/{txn_id}/capture", None, f"capture-{idempotency_key}"
        )
        if "__declined__" in order:
            return GatewayResult(
                Outcome.failed, txn_id, failure_reason=_issue(order["__declined__"])
            )
        captures = _payments(order, "captures")
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

    def _authorize(self, txn_id: str, idempotency_key: str) -> GatewayResult:
        order = self._post(
            f"/v2/checkout/orders/{txn_id}/authorize", None, f"authorize-{idempotency_key}"
        )
        if "__declined__" in order:
            return GatewayResult(
                Outcome.failed, txn_id, failure_reason=_issue(order["__declined__"])
            )
        auths = _payments(order, "authorizations")
        if order.get("status") != "COMPLETED" or not auths:
            return GatewayResult(Outcome.failed, txn_id, failure_reason=order.get("status"))
        amount = auths[0]["amount"]
        return GatewayResult(
            Outcome.authorized,
            txn_id,
            authorized_minor=from_decimal_string(amount["value"], amount["currency_code"]),
        )

    def capture(
        self, txn_id: str, amount_minor: int, currency: str, *, idempotency_key: str
    ) -> GatewayResult:
        auths = _payments(self._get_order(txn_id), "authorizations")
        if not auths:
            raise GatewayError(f"PayPal order {txn_id} has no authorization to capture")
        body = {
            "amount": {
                "currency_code": currency,
                "value": to_decimal_string(amount_minor, currency),
            },
            "final_capture": True,
        }
        capture = self._post(
            f"/v2/payments/authorizations/{auths[0]['id']}/capture",
            body,
            f"capture-{idempotency_key}",
        )
        if "__declined__" in capture:
            return GatewayResult(
                Outcome.failed, txn_id, failure_reason=_issue(capture["__declined__"])
            )
        amount = capture["amount"]
        return GatewayResult(
            Outcome.succeeded,
            txn_id,
            captured_minor=from_decimal_string(amount["value"], amount["currency_code"]),
            extra={"capture_id": capture["id"]},
        )

    def cancel(self, txn_id: str, *, idempotency_key: str) -> GatewayResult:
        """Void an authorization; an unapproved order has nothing to void (it expires)."""
        auths = _payments(self._get_order(txn_id), "authorizations")
        if auths and auths[0].get("status") in ("CREATED", "PENDING"):
            self._post(
                f"/v2/payments/authorizations/{auths[0]['id']}/void",
                None,
                f"void-{idempotency_key}",
            )
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

    def _get_order(self, txn_id: str) -> dict[str, Any]:
        try:
            resp = self._http.get(
                f"/v2/checkout/orders/{txn_id}",
                headers={"Authorization": f"Bearer {self._access_token()}"},
            )
        except httpx.HTTPError as exc:
            raise GatewayError(f"PayPal unreachable: {exc}") from exc
        if resp.status_code != 200:
            raise GatewayError(f"PayPal order {txn_id}: HTTP {resp.status_code}")
        return dict(resp.json())

    def _capture_id(self, txn_id: str) -> str:
        captures = _payments(self._get_order(txn_id), "captures")
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


def _payments(order: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """An order's ``captures`` or ``authorizations`` across its purchase units."""
    units = order.get("purchase_units", [])
    return [x for u in units for x in (u.get("payments") or {}).get(kind, [])]


def _issue(body: dict[str, Any]) -> str:
    details = body.get("details") or [{}]
    return str(details[0].get("issue") or body.get("name") or "UNPROCESSABLE_ENTITY")
