"""Vendor status webhooks: verification and status updates of delivery records.

- Twilio: ``X-Twilio-Signature`` = base64(HMAC-SHA1(auth token, full URL + every POST
  parameter name and value, sorted by name)).
- SendGrid: the signed event webhook (ECDSA P-256 over SHA-256 of timestamp + raw body;
  headers ``X-Twilio-Email-Event-Webhook-Signature`` / ``-Timestamp``), verified with the
  public key from SendGrid's settings (``Settings.sendgrid_webhook_public_key``, base64 DER).
  We chose the signature over a shared secret in the URL: it is what SendGrid offers, it
  does not leak through logs, and it covers the body.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce.db import session_scope, utcnow
from commerce.db.models.notifications import NotificationDelivery
from commerce.errors import Invalid
from commerce.notifications.delivery import set_status

#: Older signed SendGrid requests are refused (replay window).
SENDGRID_MAX_AGE_S = 600

#: vendor status -> our status (others, e.g. "processed", "queued", "open", are ignored)
TWILIO_STATUS = {"sent": "sent", "delivered": "delivered", "undelivered": "bounced",
                 "failed": "failed"}  # fmt: skip
SENDGRID_STATUS = {"delivered": "delivered", "bounce": "bounced", "dropped": "failed",
                   "blocked": "bounced"}  # fmt: skip
_RANK = {"queued": 0, "sending": 0, "sent": 1, "delivered": 2}


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    data = url + "".join(k + v for k, v in sorted(params, key=lambda kv: kv[0]))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_valid(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str
) -> bool:
    return hmac.compare_digest(twilio_signature(auth_token, url, params), signature)


def sendgrid_valid(
    public_key_b64: str, timestamp: str, body: bytes, signature_b64: str, now: float | None = None
) -> bool:
    try:
        key = load_der_public_key(base64.b64decode(public_key_b64))
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        if abs((now or time.time()) - int(timestamp)) > SENDGRID_MAX_AGE_S:
            return False
        key.verify(
            base64.b64decode(signature_b64), timestamp.encode() + body, ec.ECDSA(hashes.SHA256())
        )
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def apply(
    session: Session,
    status: str,
    now: datetime,
    provider_message_id: str | None = None,
    delivery_id: str | None = None,
    error: str | None = None,
) -> bool:
    """Move the matching delivery forward. Out-of-order or repeated reports change nothing
    (delivered never goes back to sent; final states stay). Returns whether it changed."""
    query = select(NotificationDelivery)
    if delivery_id:
        query = query.where(NotificationDelivery.id == delivery_id)
    elif provider_message_id:
        query = query.where(NotificationDelivery.provider_message_id == provider_message_id)
    else:
        return False
    delivery = session.scalars(query.limit(1)).one_or_none()
    if delivery is None or delivery.status in ("failed", "bounced", "dead", "skipped"):
        return False
    if status in _RANK and _RANK[status] <= _RANK.get(delivery.status, 99):
        return False
    extra = {"last_error": error[:2000]} if error else {}
    set_status(session, delivery, status, now, **extra)
    return True


def sendgrid_message_id(sg_message_id: str) -> str:
    """SendGrid's event ``sg_message_id`` is ``<X-Message-Id>.filterNNNN...``."""
    return sg_message_id.split(".", 1)[0]


def apply_twilio_callback(fields: dict[str, str]) -> bool:
    """Apply a verified Twilio status callback (its form fields); whether a delivery changed."""
    status = TWILIO_STATUS.get(fields.get("MessageStatus", ""))
    if not fields.get("MessageSid"):
        raise Invalid("MessageSid is required")
    if not status:
        return False
    error = f"twilio error {fields['ErrorCode']}" if fields.get("ErrorCode") else None
    with session_scope() as session:
        return apply(
            session, status, utcnow(), provider_message_id=fields["MessageSid"], error=error
        )


def apply_sendgrid_events(items: list[dict[str, Any]]) -> int:
    """Apply a verified SendGrid event batch in one transaction; how many deliveries changed."""
    updated = 0
    with session_scope() as session:
        for item in items:
            status = SENDGRID_STATUS.get(str(item.get("event")))
            if status is None:
                continue
            message_id = sendgrid_message_id(str(item.get("sg_message_id", "")))
            error = item.get("reason") or item.get("response")
            updated += apply(
                session, status, utcnow(), provider_message_id=message_id or None,
                delivery_id=item.get("delivery_id"), error=str(error) if error else None,
            )  # fmt: skip
    return updated
