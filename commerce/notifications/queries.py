"""Read models of the notifications API: messages with their deliveries, templates, stats."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commerce.db import session_scope
from commerce.db.models.notifications import (
    Notification,
    NotificationDelivery,
    NotificationTemplate,
)

STATUSES = ("queued", "sending", "sent", "delivered", "failed", "bounced", "dead", "skipped")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def delivery_json(d: NotificationDelivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "channel": d.channel,
        "status": d.status,
        "reason": d.reason,
        "provider": d.provider,
        "provider_message_id": d.provider_message_id,
        "attempts": d.attempts,
        "last_error": d.last_error,
        "not_before": _iso(d.not_before),
        "template_version": d.template_version,
        "subject": d.subject,
        "body": d.body,
        "sent_at": _iso(d.sent_at),
        "delivered_at": _iso(d.delivered_at),
        "updated_at": _iso(d.updated_at),
    }


def _json(n: Notification, deliveries: list[NotificationDelivery]) -> dict[str, Any]:
    return {
        "id": n.id,
        "user_id": n.user_id,
        "workflow": n.workflow,
        "category": n.category,
        "source_id": n.source_id,
        "suppressed": n.suppressed,
        "created_at": _iso(n.created_at),
        "deliveries": [delivery_json(d) for d in sorted(deliveries, key=lambda d: d.channel)],
    }


def _deliveries(session: Session, ids: list[str]) -> dict[str, list[NotificationDelivery]]:
    out: dict[str, list[NotificationDelivery]] = {i: [] for i in ids}
    if ids:
        query = select(NotificationDelivery).where(NotificationDelivery.notification_id.in_(ids))
        for d in session.scalars(query):
            out[d.notification_id].append(d)
    return out


def notification_json(session: Session, notification_id: str | None) -> dict[str, Any]:
    n = session.get(Notification, notification_id) if notification_id else None
    if n is None:
        return {"id": None, "deliveries": []}
    return _json(n, _deliveries(session, [n.id])[n.id])


def list_for_user(session: Session, user_id: str, limit: int, offset: int) -> list[dict[str, Any]]:
    rows = list(
        session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.created_at.desc(), Notification.id)
            .limit(limit)
            .offset(offset)
        )
    )
    by_id = _deliveries(session, [n.id for n in rows])
    return [_json(n, by_id[n.id]) for n in rows]


def template_json(t: NotificationTemplate) -> dict[str, Any]:
    return {
        "key": t.key,
        "channel": t.channel,
        "version": t.version,
        "active": t.active,
        "subject": t.subject,
        "text": t.text,
        "html": t.html,
        "created_by": t.created_by,
        "created_at": _iso(t.created_at),
    }


def templates_json(session: Session) -> list[dict[str, Any]]:
    """The active (highest active) version of every key/channel."""
    from commerce.notifications import templates

    templates.ensure_seeded()
    latest = (
        select(
            NotificationTemplate.key,
            NotificationTemplate.channel,
            func.max(NotificationTemplate.version).label("version"),
        )
        .where(NotificationTemplate.active.is_(True))
        .group_by(NotificationTemplate.key, NotificationTemplate.channel)
        .subquery()
    )
    rows = session.scalars(
        select(NotificationTemplate)
        .join(
            latest,
            (NotificationTemplate.key == latest.c.key)
            & (NotificationTemplate.channel == latest.c.channel)
            & (NotificationTemplate.version == latest.c.version),
        )
        .order_by(NotificationTemplate.key, NotificationTemplate.channel)
    )
    return [template_json(t) for t in rows]


def delivery_stats(session: Session) -> list[dict[str, Any]]:
    """Per workflow and channel: count per status, attempts, and the delivery rate
    (delivered / (delivered + failed + bounced + dead))."""
    rows = session.execute(
        select(
            NotificationDelivery.workflow,
            NotificationDelivery.channel,
            NotificationDelivery.status,
            func.count(),
            func.sum(NotificationDelivery.attempts),
        ).group_by(
            NotificationDelivery.workflow, NotificationDelivery.channel, NotificationDelivery.status
        )
    )
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for workflow, channel, status, count, attempts in rows:
        group = groups.setdefault(
            (workflow, channel),
            {"workflow": workflow, "channel": channel, "total": 0, "attempts": 0,
             **dict.fromkeys(STATUSES, 0)},
        )  # fmt: skip
        group[status] = int(count)
        group["total"] += int(count)
        group["attempts"] += int(attempts or 0)
    for group in groups.values():
        finished = group["delivered"] + group["failed"] + group["bounced"] + group["dead"]
        group["delivery_rate"] = group["delivered"] / finished if finished else None
    return [groups[k] for k in sorted(groups)]


# ---- one transaction each: what the notifications API calls -----------------------------------
def messages_of(user_id: str, limit: int, offset: int) -> list[dict[str, Any]]:
    with session_scope() as session:
        return list_for_user(session, user_id, limit, offset)


def active_templates() -> list[dict[str, Any]]:
    with session_scope() as session:
        return templates_json(session)


def delivery_statistics() -> list[dict[str, Any]]:
    with session_scope() as session:
        return delivery_stats(session)
