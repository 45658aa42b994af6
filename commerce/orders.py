"""Orders: priced from the catalog, stock reserved atomically (no oversell), status
PLACED -> PAID | CANCELLED, PAID -> REFUNDED. Every change goes to the outbox; one to or from
PAID also refreshes the verified-purchase badge of the buyer's reviews
(``commerce.reviews.verified``)."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import Update, bindparam, func, select, update
from sqlalchemy.orm import Session

from commerce import outbox
from commerce.auth import Principal
from commerce.common import EntityId, RequestModel, StaleWrite, new_id, transact
from commerce.db import direct, rowcount, session_scope, utcnow
from commerce.db.models.commerce import Order, OrderLine, Payment, Product
from commerce.errors import Conflict, Invalid, NotFound
from commerce.idempotency import Once
from commerce.reviews import verified

PLACED, PAID, CANCELLED, REFUNDED = "PLACED", "PAID", "CANCELLED", "REFUNDED"
STATUSES = (PLACED, PAID, CANCELLED, REFUNDED)


class OrderLineIn(RequestModel):
    product_id: EntityId
    quantity: Annotated[int, Field(ge=1, le=1000, strict=True)]


class OrderIn(RequestModel):
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=100)]


def order_dict(order: Order) -> dict[str, Any]:
    return {
        "id": order.id,
        "user_id": order.user_id,
        "status": order.status,
        "total_minor": order.total_minor,
        "currency": order.currency,
        "lines": [
            {
                "product_id": line.product_id,
                "quantity": line.quantity,
                "unit_price_minor": line.unit_price_minor,
            }
            for line in order.lines
        ],
        "created_at": order.created_at.isoformat(),
        "updated_at": order.updated_at.isoformat(),
    }


def _adjust_stock(session: Session, product_id: str, delta: int) -> tuple[int, int] | None:
    """Atomically add ``delta`` to a product's stock unless it would go negative.
    Returns (old, new) stock, or None when there is not enough."""
    new = session.execute(
        update(Product)
        .where(Product.id == product_id, Product.stock + delta >= 0)
        .values(stock=Product.stock + delta)
        .returning(Product.stock)
    ).scalar_one_or_none()
    return None if new is None else (new - delta, new)


def place_order(user_id: str, data: OrderIn, once: Once | None = None) -> dict[str, Any]:
    """Place the order in one transaction; with ``once`` (``commerce.idempotency.run_once``)
    the Idempotency-Key and its response commit in that same transaction."""
    quantities: dict[str, int] = {}
    for line in data.lines:
        quantities[line.product_id] = quantities.get(line.product_id, 0) + line.quantity

    def work(session: Session) -> dict[str, Any]:
        products = {
            p.id: p
            for p in session.scalars(select(Product).where(Product.id.in_(quantities))).all()
        }
        unknown = sorted(set(quantities) - set(products))
        if unknown:
            raise Invalid(f"unknown products: {', '.join(unknown)}", unknown_products=unknown)
        currencies = {p.currency for p in products.values()}
        if len(currencies) > 1:
            raise Invalid("an order's products must share one currency")
        order = Order(
            id=new_id("ord"),
            user_id=user_id,
            status=PLACED,
            total_minor=0,
            currency=currencies.pop(),
        )
        session.add(order)
        session.flush()
        stock_events: list[dict[str, Any]] = []
        for product_id in sorted(quantities):  # one lock order for every transaction
            qty = quantities[product_id]
            changed = _adjust_stock(session, product_id, -qty)
            if changed is None:
                available = session.scalar(select(Product.stock).where(Product.id == product_id))
                raise Conflict(
                    f"product {product_id} is out of stock (wanted {qty}, have {available})",
                    product_id=product_id,
                    available=available,
                )
            price = products[product_id].price_minor
            session.add(
                OrderLine(
                    order_id=order.id, product_id=product_id, quantity=qty, unit_price_minor=price
                )
            )
            order.total_minor += price * qty
            stock_events.append(
                {"item_id": product_id, "old_stock": changed[0], "new_stock": changed[1]}
            )
        session.flush()
        session.refresh(order, ["lines"])
        outbox.enqueue(
            session,
            "order_placed",
            {
                "order_id": order.id,
                "lines": [
                    {
                        "item_id": line.product_id,
                        "quantity": line.quantity,
                        "unit_price_minor": line.unit_price_minor,
                    }
                    for line in order.lines
                ],
                "total_minor": order.total_minor,
                "currency": order.currency,
            },
            order.id,
            user_id=user_id,
        )
        for payload in stock_events:
            outbox.enqueue(session, "product.stock_changed", payload, payload["item_id"])
        return order_dict(order)

    return transact(work, once=once)


def _load_visible(session: Session, principal: Principal, order_id: str) -> Order:
    order = session.get(Order, order_id)
    if order is None or not principal.can_access(order.user_id):
        raise NotFound(f"order {order_id} not found", order_id=order_id)
    return order


def get_order(principal: Principal, order_id: str) -> dict[str, Any]:
    with session_scope() as session:
        return order_dict(_load_visible(session, principal, order_id))


def list_orders(
    principal: Principal,
    user_id: str | None = None,
    status: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> dict[str, Any]:
    """A customer's own orders; admins may list anyone's (``user_id``) or all."""
    owner = user_id if principal.is_admin or principal.is_service else principal.user_id
    if user_id and owner != user_id:
        raise NotFound(f"user {user_id} has no orders visible to you")
    query = select(Order)
    if owner:
        query = query.where(Order.user_id == owner)
    if status:
        query = query.where(Order.status == status)
    with session_scope() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.order_by(Order.created_at.desc(), Order.id).limit(limit).offset(offset)
        ).all()
        items = [order_dict(o) for o in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def cancel_order(principal: Principal, order_id: str) -> dict[str, Any]:
    """Cancel a PLACED order with no payment running, and put its stock back."""

    def work(session: Session) -> dict[str, Any]:
        order = _load_visible(session, principal, order_id)
        if order.status != PLACED:
            raise Conflict(
                f"order is {order.status}; only a PLACED order can be cancelled",
                current_status=order.status,
            )
        if order.active_payment_id:
            raise Conflict(
                f"order has a payment in progress ({order.active_payment_id}); cancel it first",
                current_status=order.status,
                payment_id=order.active_payment_id,
            )
        _set_status(session, order, PLACED, CANCELLED, "order_cancelled")
        for line in order.lines:
            changed = _adjust_stock(session, line.product_id, line.quantity)
            if changed:
                outbox.enqueue(
                    session,
                    "product.stock_changed",
                    {"item_id": line.product_id, "old_stock": changed[0], "new_stock": changed[1]},
                    line.product_id,
                )
        return order_dict(order)

    return transact(work)


def _set_status(session: Session, order: Order, expected: str, new: str, event: str) -> None:
    """Compare-and-set an order's status and emit ``event``."""
    result = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == expected)
        .values(status=new, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise StaleWrite(order.id)
    order.status = new
    if PAID in (expected, new):
        verified.refresh_for_order(session, order.id, order.user_id, new == PAID)
    outbox.enqueue(
        session,
        event,
        {"order_id": order.id, "total_minor": order.total_minor, "currency": order.currency},
        order.id,
        user_id=order.user_id,
    )


def mark_paid(session: Session, order: Order) -> None:
    if order.status == PLACED:
        _set_status(session, order, PLACED, PAID, "order_paid")


@cache
def _pay_placed(if_covered: bool = False) -> Update:
    """``p_order`` PLACED -> PAID (``if_covered``: once its payments captured its total
    between them), returning what its event needs (built once; the column's ``onupdate``
    stamps ``updated_at``)."""
    table = Order.__table__
    condition = (table.c.id == bindparam("p_order")) & (table.c.status == PLACED)
    if if_covered:
        payments = Payment.__table__.c
        captured = (
            select(func.coalesce(func.sum(payments.captured_minor), 0))
            .where(payments.order_id == bindparam("p_order"))
            .scalar_subquery()
        )
        condition &= table.c.total_minor <= captured
    return (
        update(table)
        .where(condition)
        .values(status=PAID)
        .returning(
            table.c.user_id,
            table.c.total_minor,
            table.c.currency,
            verified.reviews_in_order(table),
        )
    )


def mark_paid_by_id(session: Session, order_id: str, if_covered: bool = False) -> bool:
    """PLACED -> PAID by compare-and-set in one statement (no read first); emits order_paid.
    False when the order was not PLACED (or, ``if_covered``, not yet paid in full)."""
    paying = direct.execute(session, _pay_placed(if_covered), {"p_order": order_id})
    row = paying.one_or_none()
    if row is None:
        return False
    user_id, total_minor, currency, reviewed = row
    if reviewed:
        verified.refresh_for_order(session, order_id, user_id, order_paid=True)
    outbox.enqueue(
        session,
        "order_paid",
        {"order_id": order_id, "total_minor": total_minor, "currency": currency},
        order_id,
        user_id=user_id,
    )
    return True


def mark_refunded(session: Session, order: Order) -> None:
    if order.status == PAID:
        _set_status(session, order, PAID, REFUNDED, "order_refunded")


def mark_paid_if_covered(session: Session, order_id: str) -> bool:
    """PLACED -> PAID once the order's payments (split tender: several) have captured its
    total between them: one statement."""
    return mark_paid_by_id(session, order_id, if_covered=True)


def mark_refunded_if_all(session: Session, order_id: str) -> None:
    """PAID -> REFUNDED once everything its payments captured has been refunded."""
    captured, refunded = session.execute(
        select(
            func.coalesce(func.sum(Payment.captured_minor), 0),
            func.coalesce(func.sum(Payment.refunded_minor), 0),
        ).where(Payment.order_id == order_id)
    ).one()
    order = session.get(Order, order_id)
    if order is not None and captured > 0 and refunded >= captured:
        mark_refunded(session, order)
