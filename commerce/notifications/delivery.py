"""Delivery records, sent in batches: claim up to ``notify_batch_size`` due deliveries in one
transaction, load and render them in one read, send each channel's messages in one go (SMTP:
one kept-alive connection), record every outcome in one transaction. Retries back off
exponentially up to a cap and give up into the ``dead`` state. Every status change writes a
``notification.*`` event to the outbox in the same transaction (the warehouse mart is built
from those).

States: queued (maybe with ``not_before``: quiet hours or a retry's backoff) -> sending (a
worker holds it; one that crashed is reclaimed after ``LEASE``) -> sent -> delivered;
or failed (permanent: template error, a vendor's 4xx), bounced (a webhook), dead (retries
exhausted), skipped (opted out, no address, channel not configured).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from commerce import outbox
from commerce.db import session_scope, utcnow
from commerce.db.models.notifications import (
    Notification,
    NotificationDelivery,
    NotificationTemplate,
)
from commerce.notifications import preferences, templates
from commerce.notifications.channels.base import (
    Channel,
    ChannelError,
    OutgoingMessage,
    SendResult,
    send_all,
)
from commerce.notifications.writes import write_scope
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
#: the columns a status event and an outcome need
_ROW = ("id", "notification_id", "user_id", "workflow", "category", "channel", "provider",
        "provider_message_id", "attempts", "last_error", "sent_at")  # fmt: skip


def backoff(attempts: int, settings: Settings | None = None) -> timedelta:
    """Delay before the next try after ``attempts`` failed ones: base * 2**(n-1), capped."""
    settings = settings or get_settings()
    seconds = settings.notify_backoff_base_s * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(settings.notify_backoff_cap_s, seconds))


# ---- status changes ----------------------------------------------------------------------
def _changes(row: Mapping[str, Any], status: str, now: datetime, **fields: Any) -> dict[str, Any]:
    """The column values of a move to ``status`` from the state ``row``."""
    changes = {**fields, "status": status, "updated_at": now}
    if status == "sent":
        changes["sent_at"] = now
    elif status == "delivered":
        changes["delivered_at"] = now
        changes["sent_at"] = row.get("sent_at") or now
    return changes


def _enqueue_event(session: Session, row: Mapping[str, Any], status: str, now: datetime) -> None:
    event_type = EVENT_OF.get(status)
    if event_type is None:
        return
    outbox.enqueue(
        session,
        event_type,
        {
            "notification_id": row["notification_id"],
            "delivery_id": row["id"],
            "workflow": row["workflow"],
            "category": row["category"],
            "channel": row["channel"],
            "provider": row["provider"] or "",
            "provider_message_id": row["provider_message_id"],
            "attempts": row["attempts"],
            "error": row["last_error"],
            "dead_letter": status == "dead",
        },
        aggregate_id=row["user_id"],
        user_id=row["user_id"],
        occurred_at=now,
    )


def set_status(
    session: Session, delivery: NotificationDelivery, status: str, now: datetime, **fields: object
) -> None:
    """Move one loaded delivery to ``status`` and write its event to the outbox."""
    row = {name: getattr(delivery, name) for name in _ROW}
    for name, value in _changes(row, status, now, **fields).items():
        setattr(delivery, name, value)
    _enqueue_event(session, {name: getattr(delivery, name) for name in _ROW}, status, now)


# ---- claiming ----------------------------------------------------------------------------
def _claimable(now: datetime) -> Any:
    return or_(
        (NotificationDelivery.status == "queued")
        & (NotificationDelivery.not_before.is_(None) | (NotificationDelivery.not_before <= now)),
        (NotificationDelivery.status == "sending")
        & (NotificationDelivery.updated_at < now - LEASE),
    )


def claim_batch(now: datetime, limit: int, ids: Iterable[str] | None = None) -> list[str]:
    """Take up to ``limit`` due deliveries (of ``ids``, if given) for this worker in one
    statement: a conditional UPDATE ... RETURNING, so each delivery has one owner."""
    pick = select(NotificationDelivery.id).where(_claimable(now))
    if ids is not None:
        pick = pick.where(NotificationDelivery.id.in_(list(ids)))
    pick = pick.order_by(NotificationDelivery.not_before, NotificationDelivery.created_at)
    with write_scope() as session:
        if session.connection().dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        claim = (
            update(NotificationDelivery)
            .where(NotificationDelivery.id.in_(pick.limit(limit).scalar_subquery()))
            .where(_claimable(now))
            .values(status="sending", updated_at=now)
            .returning(NotificationDelivery.id)
            .execution_options(synchronize_session=False)
        )
        return list(session.scalars(claim))


# ---- one batch ---------------------------------------------------------------------------
@dataclass
class _Job:
    """A claimed delivery: its state, the message to send, the changes to record."""

    row: dict[str, Any]
    message: OutgoingMessage | None = None
    status: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)

    def move(self, status: str, now: datetime, **fields: Any) -> None:
        self.status = status
        self.changes.update(_changes(self.row, status, now, **fields))


def deliver_batch(
    channels: Mapping[str, Channel],
    now: datetime,
    limit: int,
    ids: Iterable[str] | None = None,
) -> dict[str, str]:
    """Claim, render, send and record up to ``limit`` deliveries. Returns id -> status."""
    claimed = claim_batch(now, limit, ids)
    if not claimed:
        return {}
    jobs = _load(claimed, channels, now)
    _send(jobs, channels, now)
    _record(jobs, now)
    return {job.row["id"]: job.status for job in jobs if job.status}


def _load(ids: list[str], channels: Mapping[str, Channel], now: datetime) -> list[_Job]:
    """Read the claimed deliveries with their messages, preferences and templates, and
    render each (templates are compiled once per source, looked up once per batch)."""
    with session_scope() as session:
        rows = list(session.scalars(select(NotificationDelivery).where(
            NotificationDelivery.id.in_(ids))))  # fmt: skip
        notes = {n.id: n for n in session.scalars(select(Notification).where(
            Notification.id.in_({r.notification_id for r in rows})))}  # fmt: skip
        prefs = preferences.load_many(session, {r.user_id for r in rows})
        found: dict[tuple[str, str], NotificationTemplate | None] = {}
        jobs = []
        for delivery in rows:
            job = _Job({name: getattr(delivery, name) for name in _ROW})
            note = notes[delivery.notification_id]
            key = (note.template, delivery.channel)
            if key not in found:
                found[key] = templates.active(session, *key)
            _prepare(job, note, prefs[delivery.user_id], found[key], channels, now)
            jobs.append(job)
        return jobs


def _prepare(
    job: _Job,
    note: Notification,
    prefs: preferences.Preferences,
    template: NotificationTemplate | None,
    channels: Mapping[str, Channel],
    now: datetime,
) -> None:
    """Set the job's message, or its final status when it cannot be sent."""
    name = job.row["channel"]
    channel = channels.get(name)
    if channel is None:
        return job.move("skipped", now, reason="channel not configured")
    address = prefs.address(name)
    if name != "in_app" and not address:
        return job.move("skipped", now, reason=f"no {name} address")
    try:
        if template is None:
            raise templates.TemplateRenderError(f"no template {note.template!r} for channel {name}")
        rendered = templates.render_row(template, note.context)
    except templates.TemplateRenderError as exc:
        return job.move("failed", now, provider=channel.provider, last_error=f"template: {exc}")
    job.changes.update(template_version=rendered.version, subject=rendered.subject,
                       body=rendered.text, provider=channel.provider)  # fmt: skip
    job.message = OutgoingMessage(
        delivery_id=job.row["id"],
        user_id=job.row["user_id"],
        to=address,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        data={"notification_id": note.id, "workflow": note.workflow},
    )


def _send(jobs: list[_Job], channels: Mapping[str, Channel], now: datetime) -> None:
    """Send each channel's messages in one call and note every outcome."""
    by_channel: dict[str, list[_Job]] = {}
    for job in jobs:
        if job.message is not None:
            by_channel.setdefault(job.row["channel"], []).append(job)
    settings = get_settings()
    for name, group in by_channel.items():
        results = send_all(channels[name], [job.message for job in group if job.message])
        for job, result in zip(group, results, strict=True):
            _outcome(job, result, now, settings)


def _outcome(
    job: _Job, result: SendResult | ChannelError, now: datetime, settings: Settings
) -> None:
    attempts = job.row["attempts"] + 1
    if isinstance(result, SendResult):
        status = "delivered" if result.delivered else "sent"
        sent = {"provider": result.provider, "provider_message_id": result.provider_message_id}
        return job.move(status, now, attempts=attempts, not_before=None, **sent)
    error = str(result)[:2000]
    if not result.retryable:
        return job.move("failed", now, attempts=attempts, last_error=error)
    if attempts >= settings.notify_max_attempts:
        log.warning("delivery %s dead after %d attempts: %s", job.row["id"], attempts, error)
        return job.move("dead", now, attempts=attempts, last_error=error, not_before=None)
    retry_at = now + backoff(attempts, settings)
    job.move("queued", now, attempts=attempts, last_error=error, not_before=retry_at)


def _record(jobs: list[_Job], now: datetime) -> None:
    """Every outcome of the batch and its outbox events, in one transaction."""
    done = [job for job in jobs if job.status]
    if not done:
        return
    with write_scope() as session:
        session.execute(update(NotificationDelivery),
                        [{"id": job.row["id"], **job.changes} for job in done])  # fmt: skip
        for job in done:
            assert job.status is not None
            _enqueue_event(session, {**job.row, **job.changes}, job.status, now)


# ---- entry points ------------------------------------------------------------------------
def deliver_many(
    ids: Iterable[str], channels: Mapping[str, Channel], now: datetime | None = None
) -> dict[str, str]:
    """Deliver each id this worker can claim, in batches. Returns id -> resulting status."""
    now = now or utcnow()
    wanted = list(dict.fromkeys(ids))
    size = get_settings().notify_batch_size
    out: dict[str, str] = {}
    for start in range(0, len(wanted), size):
        out.update(deliver_batch(channels, now, size, wanted[start : start + size]))
    return out


def deliver_due(channels: Mapping[str, Channel], now: datetime | None = None) -> dict[str, str]:
    """Send every due delivery: deferred ones whose time came, retries, abandoned claims."""
    now = now or utcnow()
    size = get_settings().notify_batch_size
    out: dict[str, str] = {}
    while True:
        done = deliver_batch(channels, now, size)
        repeated = not done.keys().isdisjoint(out)  # a zero backoff: leave it to the next pass
        out.update(done)
        if len(done) < size or repeated:
            return out


def deliver(
    delivery_id: str, channels: Mapping[str, Channel], now: datetime | None = None
) -> str | None:
    """Deliver one; None when it is not due or another worker has it."""
    return deliver_many([delivery_id], channels, now).get(delivery_id)
