"""3-D Secure on the test gateway, served by Shopflow itself (as Stripe's test page is): the
next action is a link to ``/api/payments/{id}/authenticate`` carrying an HMAC of the payment
id under the signing secret, so the buyer's browser needs no login and no one can forge it."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from commerce.db.models.commerce import Payment
from shopflow.config import get_settings

PATH = "/api/payments/{payment_id}/authenticate"


def _token(payment_id: str) -> str:
    key = get_settings().jwt_secret.encode()
    return hmac.new(key, f"3ds:{payment_id}".encode(), hashlib.sha256).hexdigest()[:32]


def url(payment_id: str) -> str:
    return PATH.format(payment_id=payment_id) + f"?token={_token(payment_id)}"


def next_action(payment_id: str) -> dict[str, Any]:
    """Stripe's shape of a redirect action."""
    return {"type": "redirect_to_url", "redirect_to_url": {"url": url(payment_id)}}


def verify(payment_id: str, token: str) -> bool:
    return hmac.compare_digest(_token(payment_id).encode(), token.encode())  # any text


def awaits(payment: Payment) -> bool:
    """Whether the payment waits on Shopflow's own authentication page."""
    action = payment.next_action or {}
    target = (action.get("redirect_to_url") or {}).get("url") or ""
    return payment.gateway == "test" and target.startswith(PATH.format(payment_id=payment.id))
