"""Writing domain events to the transactional outbox (the relay publishes them)."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Insert, insert
from sqlalchemy.orm import Session

from commerce.db import direct, utcnow
from commerce.db.models.core import OutboxEvent
from shopflow import events


@cache
def _insert() -> Insert:
    """Built once: a reused statement skips SQLAlchemy's construction and cache-key work."""
    return insert(OutboxEvent.__table__)


def enqueue(
    session: Session,
    event_type: str,
    payload: dict[str, Any] | events.Payload,
    aggregate_id: str,
    **envelope: Any,
) -> events.Envelope:
    """Validate an event against the contract and add it to the outbox in ``session``'s
    transaction, so it is published if and only if the state change commits. The row is
    written with the transaction's last write (``direct.later``): nothing reads the outbox
    before the commit."""
    event = events.make_event(event_type, payload, **envelope)
    direct.later(session, _insert(), row(event, aggregate_id))
    return event


def row(event: events.Envelope, aggregate_id: str) -> dict[str, Any]:
    """``event``'s outbox row, for ``enqueue_rows``."""
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "aggregate_id": aggregate_id,
        "envelope_json": event.model_dump_json(),
        "created_at": utcnow(),
    }


def enqueue_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Add several events' rows (``row``), in order, in ``session``'s transaction (as
    ``enqueue``)."""
    if rows:
        direct.later(session, _insert(), rows)
