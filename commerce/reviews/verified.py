"""Verified purchase: the user has an order in status PAID containing the product.

Kept right on every path: computed at submission, edit and moderation, and recomputed by
``refresh_for_order``, which ``commerce.orders`` calls in the transaction that changes an
order's status (paid, refunded, cancelled), so a payment grants the badge and a refund
clears it.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import ColumnElement, Integer, Select, Table, bindparam, literal_column, select
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


def reviews_in_order(orders: Table) -> ColumnElement[int]:
    """How many of the order's user's reviews are of products in the order: a column for the
    RETURNING of a statement that changes a row of ``orders``, so ``refresh_for_order`` (one
    more query) runs only when there is a badge to recompute. Written out: SQLAlchemy's
    SQLite compiler drops the table names a correlated subquery in RETURNING needs."""
    reviews, lines = Review.__tablename__, OrderLine.__tablename__
    order = orders.name
    return literal_column(
        f"(SELECT count(*) FROM {reviews} JOIN {lines} ON {lines}.product_id = "
        f"{reviews}.product_id AND {lines}.order_id = {order}.id "
        f"WHERE {reviews}.user_id = {order}.user_id)",
        Integer,
    )


@cache
def _reviews_of_order() -> Select[Review]:
    """``p_user``'s reviews of the products in order ``p_order`` (built once: the payment
    path runs it on every paid order)."""
    return (
        select(Review)
        .join(
            OrderLine,
            (OrderLine.product_id == Review.product_id)
            & (OrderLine.order_id == bindparam("p_order")),
        )
        .where(Review.user_id == bindparam("p_user"))
    )


def refresh_for_order(session: Session, order_id: str, user_id: str, order_paid: bool) -> int:
    """Recompute the badge of ``user_id``'s reviews of the products in order ``order_id``,
    whose status just became paid (``order_paid``) or left paid. One query when the user has
    not reviewed them. Returns how many reviews changed."""
    reviews = session.scalars(_reviews_of_order(), {"p_order": order_id, "p_user": user_id}).all()
    changed = 0
    for review in reviews:
        verified = order_paid or has_paid_order(session, user_id, review.product_id, order_id)
        if review.verified_purchase != verified:
            review.verified_purchase = verified
            changed += 1
    return changed
