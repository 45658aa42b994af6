"""Digests: alerts of one user within a window (``digest.window_s`` of the workflow) are
batched into one message. The first alert opens the window; its end is the ``due_at`` of
every alert joining it; ``service.flush_digests`` sends the closed windows."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce.db import session_scope
from commerce.db.models.notifications import NotificationDigestItem
from commerce.notifications.workflows import Workflow
from shopflow.config import get_settings


def add(
    session: Session,
    workflow: Workflow,
    user_id: str,
    source_id: str,
    context: dict[str, Any],
    now: datetime,
) -> bool:
    """Queue one alert (once per source id). Returns whether it was new."""
    assert workflow.digest is not None
    seen = session.scalar(
        select(NotificationDigestItem.id).where(
            NotificationDigestItem.workflow == workflow.name,
            NotificationDigestItem.source_id == source_id,
        )
    )
    if seen is not None:
        return False
    open_due = session.scalar(
        select(NotificationDigestItem.due_at)
        .where(
            NotificationDigestItem.user_id == user_id,
            NotificationDigestItem.workflow == workflow.name,
            NotificationDigestItem.notification_id.is_(None),
        )
        .order_by(NotificationDigestItem.id)
        .limit(1)
    )
    session.add(
        NotificationDigestItem(
            user_id=user_id,
            workflow=workflow.name,
            source_id=source_id,
            context=context,
            due_at=open_due or now + timedelta(seconds=window_s(workflow)),
            created_at=now,
        )
    )
    return True


def window_s(workflow: Workflow) -> float:
    """The workflow's digest window, unless ``Settings.notify_digest_window_s`` overrides it."""
    assert workflow.digest is not None
    return get_settings().notify_digest_window_s or workflow.digest.window_s


def due_groups(now: datetime) -> list[tuple[str, str]]:
    """(user_id, workflow) of every window that has closed."""
    with session_scope() as session:
        rows = session.execute(
            select(NotificationDigestItem.user_id, NotificationDigestItem.workflow)
            .where(
                NotificationDigestItem.notification_id.is_(None),
                NotificationDigestItem.due_at <= now,
            )
            .distinct()
        )
        return [(r[0], r[1]) for r in rows]


def take(
    session: Session, user_id: str, workflow: str, now: datetime
) -> tuple[str, dict[str, Any], list[NotificationDigestItem]] | None:
    """The pending items of a closed window: (source id, context, items), or None."""
    items = list(
        session.scalars(
            select(NotificationDigestItem)
            .where(
                NotificationDigestItem.user_id == user_id,
                NotificationDigestItem.workflow == workflow,
                NotificationDigestItem.notification_id.is_(None),
                NotificationDigestItem.due_at <= now,
            )
            .order_by(NotificationDigestItem.id)
        )
    )
    if not items:
        return None
    ids = ",".join(sorted(i.source_id for i in items))
    source_id = "digest:" + hashlib.sha256(ids.encode()).hexdigest()[:40]
    context = {
        "event_type": "digest",
        "user_id": user_id,
        "count": len(items),
        "items": [i.context for i in items],
    }
    return source_id, context, items


def mark(items: list[NotificationDigestItem], notification_id: str | None) -> None:
    for item in items:
        item.notification_id = notification_id
