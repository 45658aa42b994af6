"""Which OLTP rows belong to a user: one query per table, shared by export and erasure."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce.db import Base
from commerce.db.models.commerce import Order, Payment, PaymentLedgerEntry
from commerce.db.models.notifications import (
    Notification,
    NotificationDelivery,
    NotificationDigestItem,
)
from commerce.db.models.privacy import ErasureRequest
from commerce.db.models.reviews import Review, ReviewMedia, ReviewVote
from commerce.db.models.wishlists import CompareItem, WishlistAlertSent

#: Tables whose rows are the user's (matched on ``user_id``), exported as they are.
PLAIN: dict[str, type[Base]] = {
    "reviews": Review,
    "review_votes": ReviewVote,
    "compare_items": CompareItem,
    "wishlist_alerts": WishlistAlertSent,
    "notifications": Notification,
    "notification_deliveries": NotificationDelivery,
    "notification_digest_items": NotificationDigestItem,
    "erasure_requests": ErasureRequest,
}


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None  # key material and blobs are never exported
    return value


def row_dict(row: Base, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        c.key: jsonable(getattr(row, c.key))
        for c in type(row).__table__.columns
        if c.key not in skip
    }


def owned(session: Session, model: type[Base], user_id: str) -> list[Any]:
    column = model.__table__.c.user_id
    return list(session.scalars(select(model).where(column == user_id)))


def orders(session: Session, user_id: str) -> list[Order]:
    return list(session.scalars(select(Order).where(Order.user_id == user_id).order_by(Order.id)))


def payments(session: Session, user_id: str) -> list[Payment]:
    query = select(Payment).where(Payment.user_id == user_id).order_by(Payment.id)
    return list(session.scalars(query))


def ledger(session: Session, payment_ids: list[str]) -> list[PaymentLedgerEntry]:
    query = select(PaymentLedgerEntry).where(PaymentLedgerEntry.payment_id.in_(payment_ids))
    return list(session.scalars(query.order_by(PaymentLedgerEntry.id)))


def media(session: Session, user_id: str) -> list[ReviewMedia]:
    return owned(session, ReviewMedia, user_id)
