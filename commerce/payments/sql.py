"""The payment write path's statements, each built once and reused with parameters: a
reused statement skips SQLAlchemy's construction and cache-key work, which otherwise cost
more than the database round trip. Bound names (``p_*``) never shadow a column, since an
UPDATE's other parameters name the columns it sets."""

from __future__ import annotations

from functools import cache

from sqlalchemy import (
    Insert,
    Row,
    ScalarSelect,
    Select,
    Update,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    update,
)

from commerce.db.models.commerce import Order, Payment, PaymentLedgerEntry
from commerce.payments import ledger
from commerce.payments.ledger import Status

#: the running statuses (``ledger.OPEN``) as stored
OPEN = tuple(status.value for status in ledger.OPEN)

#: ``payable_order``'s row: owner, status, total, currency, ``committed_minor`` and the
#: running payment (``active_payment_id``)
PayableOrder = Row[str, str, int, str, int, str | None]

_payments = Payment.__table__
_orders = Order.__table__


@cache
def insert_payment() -> Insert:
    return insert(_payments)


@cache
def payment_by_id() -> Select[Payment]:
    """The payment ``p_id`` (a prebuilt query costs less than ``Session.get``'s own)."""
    return select(Payment).where(Payment.id == bindparam("p_id"))


@cache
def version_of() -> Select[int]:
    """The payment ``p_id``'s ``version`` (a cached payment read's one database cost)."""
    return select(Payment.version).where(Payment.id == bindparam("p_id"))


@cache
def insert_entry() -> Insert:
    return insert(PaymentLedgerEntry.__table__)


@cache
def set_payment() -> Update:
    """Compare-and-set a payment's columns: ``p_id`` at ``p_seen`` (its ``version``)."""
    return update(_payments).where(
        _payments.c.id == bindparam("p_id"), _payments.c.version == bindparam("p_seen")
    )


@cache
def claim_order() -> Update:
    """Set ``p_order``'s ``active_payment_id`` while it is ``p_status`` (PLACED), no payment
    runs on it, and its other payments leave ``p_amount`` or more to pay."""
    return update(_orders).where(
        _orders.c.id == bindparam("p_order"),
        _orders.c.status == bindparam("p_status"),
        _orders.c.active_payment_id.is_(None),
        _orders.c.total_minor - _committed() >= bindparam("p_amount"),
    )


@cache
def release_order() -> Update:
    """Clear ``p_order``'s running payment if it is still ``p_payment``."""
    return (
        update(_orders)
        .where(
            _orders.c.id == bindparam("p_order"),
            _orders.c.active_payment_id == bindparam("p_payment"),
        )
        .values(active_payment_id=None)
    )


@cache
def payable_order() -> Select[str, str, int, str, int, str | None]:
    """``p_order``'s owner, status, total and currency, with what its payments already cover
    (``_committed``) and the payment running on it. Built on the tables' columns: a Core
    select costs about half an ORM-attribute one to run."""
    o = _orders.c
    committed = _committed().label("committed_minor")
    return select(
        o.user_id, o.status, o.total_minor, o.currency, committed, o.active_payment_id
    ).where(o.id == bindparam("p_order"))


def _committed() -> ScalarSelect[int]:
    """What ``p_order``'s payments already cover: captured amounts, held authorizations and
    the amounts of payments still running (equalities, not IN: an IN list is expanded per
    execution, which ``commerce.db.direct`` leaves to SQLAlchemy)."""
    p = _payments.c
    held = case(
        (or_(*(p.status == status for status in OPEN)), p.amount_minor),
        (p.status == Status.AUTHORIZED.value, p.authorized_minor),
        else_=p.captured_minor,
    )
    return (
        select(func.coalesce(func.sum(held), 0))
        .where(p.order_id == bindparam("p_order"))
        .scalar_subquery()
    )
