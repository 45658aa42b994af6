"""Seal PII written before field encryption: contacts and payment details still in the
clear are sealed under their owner's data key, in batches (idempotent: sealed values are
left alone). Run once after the migration: ``shopflow privacy seal-existing``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from commerce.db import Base, session_scope
from commerce.db.models.commerce import Payment
from commerce.db.models.notifications import NotificationPreference
from commerce.privacy import fields
from commerce.privacy.keyring import KeyShredded

BATCH = 500
Sealer = Callable[[Session, Any], bool]


def _clear(value: str | None) -> bool:
    return value is not None and not value.startswith(fields.PREFIX)


def _seal_contacts(session: Session, row: Any) -> bool:
    if not any(_clear(v) for v in (row.email, row.phone, row.push_token)):
        return False
    if _clear(row.email):
        row.email_hash = fields.email_hash(row.email)
    for name in ("email", "phone", "push_token"):
        value = getattr(row, name)
        if _clear(value):
            setattr(row, name, fields.seal(session, row.user_id, value))
    return True


def _seal_payment(session: Session, row: Any) -> bool:
    changed = False
    for name in ("billing_address", "customer"):
        value = getattr(row, name)
        if value is not None and fields.unseal_json(session, row.user_id, value) is value:
            setattr(row, name, fields.seal_json(session, row.user_id, value))
            changed = True
    return changed


def seal_existing() -> dict[str, int]:
    """Seal every clear PII value; returns rows changed per table. Rows of erased users
    (their key destroyed) lose the clear value instead: it may no longer be kept."""
    counts = {"notification_preferences": 0, "payments": 0}
    tables: tuple[tuple[type[Base], InstrumentedAttribute[str], Sealer], ...] = (
        (NotificationPreference, NotificationPreference.user_id, _seal_contacts),
        (Payment, Payment.id, _seal_payment),
    )
    for model, key, seal in tables:
        last = ""
        while True:
            with session_scope() as session:
                rows = session.scalars(
                    select(model).where(key > last).order_by(key).limit(BATCH)
                ).all()
                for row in rows:
                    try:
                        changed = seal(session, row)
                    except KeyShredded:
                        changed = _drop_clear(row)
                    counts[model.__tablename__] += int(changed)
            if len(rows) < BATCH:
                break
            last = getattr(rows[-1], key.key)
    return counts


def _drop_clear(row: Any) -> bool:
    if isinstance(row, Payment):
        row.billing_address = row.customer = None
    else:
        row.email = row.phone = row.push_token = row.email_hash = None
    return True
