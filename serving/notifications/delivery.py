"""Delivery records: claim, render, send, record. Retries back off exponentially up to a cap
and give up into the ``dead`` state. Every status change writes a ``notification.*`` event
to the outbox in the same transaction (the warehouse mart is built from those).

States: queued (maybe with ``not_before``: quiet hours or a retry's backoff) -> sending (a
worker holds it; one that crashed is reclaimed after ``LEASE``) -> sent -> delivered;
or failed (permanent: template error, a vendor's 4xx), bounced (a webhook), dead (retries
exhausted), skipped (opted out, no address, channel not configured).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from serving import outbox
from serving.db import session_scope, utcnow
from serving.db.models.notifications import Notification, NotificationDelivery
from serving.notifications import preferences, templates
from serving.notifications.channels.base import (
    Channel,
    ChannelError,
    OutgoingMessage,
    SendResult,
)
from shopflow.config import Settings, get_settings

log = logging.getLogger("shopflow.notifications")

LEASE = timedelta(minutes=5)
FINAL = frozenset({"delivered", "failed", "bounced", "dead", "skipped"})
#: status -> the event type written when a delivery enters it
EVENT_OF = {
    "sent": "notification.sent",
    "delivered": "notification.delivered",
    "failed": "notification.failed",
    "dead": "notification.failed",
    "bounced": "notification.bounced",
}


def backoff(attempts: int, settings: Settings | None = None) -> timedelta:
    """Delay before the next try after ``attempts`` failed ones: base * 2**(n-1), capped."""
    settings = settings or get_settings()
    seconds = settings.notify_backoff_base_s * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(settings.notify_backoff_cap_s, seconds))


def set_status(
    session: Session, delivery: NotificationDelivery, status: str, now: datetime, **fields: object
) -> None:
    """Move a delivery to ``status`` and write its event to the outbox."""
    delivery.status = status
    delivery.updated_at = now
    for name, value in fields.items():
        setattr(delivery, name, value)
    if status == "sent":
        delivery.sent_at = now
    elif status == "delivered":
        delivery.delivered_at = now
        delivery.sent_at = delivery.sent_at or now
    event_type = EVENT_OF.get(status)
    if event_type is None:
        return
    outbox.enqueue(
        session,
        event_type,
        {
            "notification_id": delivery.notification_id,
            "delivery_id": delivery.id,
            "workflow": delivery.workflow,
            "category": delivery.category,
            "channel": delivery.channel,
            "provider": delivery.provider or "",
            "provider_message_id": delivery.provider_message_id,
            "attempts": delivery.attempts,
            "error": delivery.last_error,
            "dead_letter": status == "dead",
        },
        aggregate_id=delivery.user_id,
        user_id=delivery.user_id,
        occurred_at=now,
    )


# ---- claiming ----------------------------------------------------------------------------
def _claimable(now: datetime) -> object:
    return or_(
        (NotificationDelivery.status == "queued")
        & (NotificationDelivery.not_before.is_(None) | (NotificationDelivery.not_before <= now)),
        (NotificationDelivery.status == "sending")
        & (NotificationDelivery.updated_at < now - LEASE),
    )


def due_ids(now: datetime | None = None, limit: int = 500) -> list[str]:
    now = now or utcnow()
    with session_scope() as session:
        return list(
            session.scalars(
                select(NotificationDelivery.id)
                .where(_claimable(now))  # type: ignore[arg-type]
                .order_by(NotificationDelivery.not_before, NotificationDelivery.created_at)
                .limit(limit)
            )
        )


def claim(session: Session, delivery_id: str, now: datetime) -> bool:
    """Take a due delivery for this worker (a conditional update: one worker wins)."""
    result = session.execute(
        update(NotificationDelivery)
        .where(NotificationDelivery.id == delivery_id, _claimable(now))  # type: ignore[arg-type]
        .values(status="sending", updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# ---- sending -----------------------------------------------------------------------------
def deliver_many(
    ids: Iterable[str], channels: Mapping[str, Channel], now: datetime | None = None
) -> dict[str, str]:
    """Deliver each id this worker can claim. Returns id -> resulting status."""
    return {i: s for i in ids if (s := deliver(i, channels, now)) is not None}


def deliver_due(channels: Mapping[str, Channel], now: datetime | None = None) -> dict[str, str]:
    """Send every due delivery: deferred ones whose time came, retries, abandoned claims."""
    now = now or utcnow()
    return deliver_many(due_ids(now), channels, now)


def deliver(
    delivery_id: str, channels: Mapping[str, Channel], now: datetime | None = None
) -> str | None:
    """Claim, render, send and record one delivery. None when another worker has it."""
    now = now or utcnow()
    with session_scope() as session:
        if not claim(session, delivery_id, now):
            return None
    with session_scope() as session:  # apart from the claim: rendering may seed templates
        delivery = session.get(NotificationDelivery, delivery_id)
        assert delivery is not None
        prepared = _prepare(session, delivery, channels, now)
        if isinstance(prepared, str):
            return prepared
        channel, message = prepared
    try:
        result: SendResult | ChannelError = channel.send(message)
    except ChannelError as exc:
        result = exc
    except Exception as exc:  # a bug in an adapter must not wedge the delivery
        log.exception("channel %s crashed", channel.provider)
        result = ChannelError(f"{type(exc).__name__}: {exc}")
    with session_scope() as session:
        delivery = session.get(NotificationDelivery, delivery_id)
        assert delivery is not None
        return _record(session, delivery, channel.provider, result, now)


def _prepare(
    session: Session, delivery: NotificationDelivery, channels: Mapping[str, Channel], now: datetime
) -> tuple[Channel, OutgoingMessage] | str:
    """The channel and rendered message, or the final status when it cannot be sent."""
    channel = channels.get(delivery.channel)
    if channel is None:
        set_status(session, delivery, "skipped", now, reason="channel not configured")
        return "skipped"
    notification = session.get(Notification, delivery.notification_id)
    assert notification is not None
    prefs = preferences.load(session, delivery.user_id)
    address = prefs.address(delivery.channel)
    if delivery.channel != "in_app" and not address:
        set_status(session, delivery, "skipped", now, reason=f"no {delivery.channel} address")
        return "skipped"
    row = templates.active(session, notification.template, delivery.channel)
    try:
        if row is None:
            raise templates.TemplateRenderError(
                f"no template {notification.template!r} for channel {delivery.channel}"
            )
        rendered = templates.render_row(row, notification.context)
    except templates.TemplateRenderError as exc:
        set_status(session, delivery, "failed", now, provider=channel.provider,
                   last_error=f"template: {exc}")  # fmt: skip
        return "failed"
    delivery.template_version = rendered.version
    delivery.subject, delivery.body = rendered.subject, rendered.text
    delivery.provider = channel.provider
    message = OutgoingMessage(
        delivery_id=delivery.id,
        user_id=delivery.user_id,
        to=address,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        data={"notification_id": notification.id, "workflow": notification.workflow},
    )
    return channel, message


def _record(
    session: Session,
    delivery: NotificationDelivery,
    provider: str,
    result: SendResult | ChannelError,
    now: datetime,
) -> str:
    delivery.attempts += 1
    if isinstance(result, SendResult):
        status = "delivered" if result.delivered else "sent"
        set_status(session, delivery, status, now, provider=result.provider,
                   provider_message_id=result.provider_message_id, not_before=None)  # fmt: skip
        return status
    error = str(result)[:2000]
    settings = get_settings()
    if not result.retryable:
        set_status(session, delivery, "failed", now, last_error=error)
        return "failed"
    if delivery.attempts >= settings.notify_max_attempts:
        set_status(session, delivery, "dead", now, last_error=error, not_before=None)
        log.warning("delivery %s dead after %d attempts: %s", delivery.id, delivery.attempts, error)
        return "dead"
    retry_at = now + backoff(delivery.attempts, settings)
    set_status(session, delivery, "queued", now, last_error=error, not_before=retry_at)
    return "queued"
