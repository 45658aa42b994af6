"""Verified purchase: the user has an order in status PAID containing the product.

Kept right on every path: computed at submission, edit and moderation; recomputed for the
reviews touched by an order whenever that order's status changes, through the explicit
``refresh_for_order`` (for code that changes status with a Core UPDATE) and an ORM flush
listener (for code that assigns ``order.status``), so a refund clears the badge.
"""

from __future__ import annotations

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from commerce.db.models.commerce import Order, OrderLine
from commerce.db.models.reviews import Review

PAID = "PAID"


def has_paid_order(
    session: Session, user_id: str, product_id: str, exclude_order: str | None = None
) -> bool:
    query = (
        select(Order.id)
        .join(OrderLine, OrderLine.order_id == Order.id)
        .where(Order.user_id == user_id, Order.status == PAID, OrderLine.product_id == product_id)
        .limit(1)
    )
    if exclude_order is not None:
        query = query.where(Order.id != exclude_order)
    return session.scalar(query) is not None


def _refresh(
    session: Session, user_id: str, product_ids: set[str], order_id: str, order_paid: bool
) -> int:
    if not product_ids:
        return 0
    changed = 0
    reviews = session.scalars(
        select(Review).where(Review.user_id == user_id, Review.product_id.in_(product_ids))
    ).all()
    for review in reviews:
        verified = order_paid or has_paid_order(session, user_id, review.product_id, order_id)
        if review.verified_purchase != verified:
            review.verified_purchase = verified
            changed += 1
    return changed


def refresh_for_order(session: Session, order_id: str) -> int:
    """Recompute the badge of the reviews an order touches (call after its status changed,
    in the same transaction). Returns how many reviews changed."""
    session.flush()
    order = session.get(Order, order_id, populate_existing=True)
    if order is None:
        return 0
    product_ids = set(
        session.scalars(select(OrderLine.product_id).where(OrderLine.order_id == order_id))
    )
    return _refresh(session, order.user_id, product_ids, order.id, order.status == PAID)


def on_flush(session: Session) -> None:
    """Before-flush hook (registered in serving/db/models/reviews.py): orders whose status
    changed in this flush refresh the badge of their reviews."""
    orders = [
        obj
        for obj in list(session.dirty) + list(session.new)
        if isinstance(obj, Order)
        and inspect(obj).attrs.status.history.has_changes()
        and (obj.status == PAID or obj not in session.new)
    ]
    if not orders:
        return
    with session.no_autoflush:
        for order in orders:
            product_ids = {line.product_id for line in order.lines}
            _refresh(session, order.user_id, product_ids, order.id, order.status == PAID)
