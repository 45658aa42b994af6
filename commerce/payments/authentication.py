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


#: hex digits as letters: the form posts the token back, and a run of 13 or more digits
#: in it could pass the Luhn check and be refused as a card number (``card_data``)
_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def _token(payment_id: str) -> str:
    return _letters(_hex_token(payment_id))


def _letters(hex_token: str) -> str:
    return hex_token.translate(_LETTERS)


def _hex_token(payment_id: str) -> str:
    """The token's form in links issued before it became letters only (still accepted)."""
    key = get_settings().jwt_secret.encode()
    return hmac.new(key, f"3ds:{payment_id}".encode(), hashlib.sha256).hexdigest()[:32]


def url(payment_id: str) -> str:
    return PATH.format(payment_id=payment_id) + f"?token={_token(payment_id)}"


def next_action(payment_id: str) -> dict[str, Any]:
    """Stripe's shape of a redirect action."""
    return {"type": "redirect_to_url", "redirect_to_url": {"url": url(payment_id)}}


def verify(payment_id: str, token: str) -> bool:
    given, hex_form = token.encode(), _hex_token(payment_id)  # any text; one HMAC
    return any(
        hmac.compare_digest(issued.encode(), given) for issued in (_letters(hex_form), hex_form)
    )


def awaits(payment: Payment) -> bool:
    """Whether the payment waits on Shopflow's own authentication page."""
    action = payment.next_action or {}
    target = (action.get("redirect_to_url") or {}).get("url") or ""
    return payment.gateway == "test" and target.startswith(PATH.format(payment_id=payment.id))
