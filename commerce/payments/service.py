"""Payments: create, confirm, cancel, refund through a gateway; status derived from the
append-only ledger; every state change writes its outbox event in the same transaction.

Gateway calls happen outside database transactions, each with an idempotency key derived
from the payment (and the ledger step), so a retried request never charges twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from commerce import orders as order_service
from commerce import outbox
from commerce.auth import Principal
from commerce.common import (
    AmountMinor,
    CurrencyCode,
    EntityId,
    RequestModel,
    StaleWrite,
    new_id,
    transact,
)
from commerce.db import rowcount, session_scope, utcnow
from commerce.db.models.commerce import Order, Payment, PaymentLedgerEntry
from commerce.errors import Conflict, Forbidden, Invalid, NotFound, PaymentDeclined, Unavailable
from commerce.idempotency import Once
from commerce.payments import gateways
from commerce.payments.gateways import GatewayError, GatewayResult, Outcome
from commerce.payments.ledger import (
    IllegalTransition,
    Kind,
    LedgerState,
    Status,
    apply,
    derive,
)
from commerce.privacy import fields
from shopflow.events import PaymentMethod

Token = Annotated[str, Field(min_length=3, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")]
Text = Annotated[str, Field(max_length=200)]

#: ledger kind -> outbox event type
_EVENTS = {
    Kind.created: "payment.created",
    Kind.processing: "payment.processing",
    Kind.captured: "payment.completed",
    Kind.failed: "payment.failed",
    Kind.cancelled: "payment.cancelled",
    Kind.refunded: "payment.refunded",
}


class Address(RequestModel):
    line1: Annotated[str, Field(min_length=1, max_length=200)]
    line2: Text | None = None
    city: Annotated[str, Field(min_length=1, max_length=100)]
    postal_code: Annotated[str, Field(min_length=1, max_length=20)]
    state: Text | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class Customer(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
    phone: Annotated[str, Field(max_length=32)] | None = None


class PaymentIn(RequestModel):
    order_id: EntityId
    amount_minor: AmountMinor
    currency: CurrencyCode
    method: PaymentMethod
    payment_method: Token | None = Field(
        default=None, description="A gateway payment-method token (e.g. pm_card_visa)."
    )
    billing_address: Address | None = None
    customer: Customer | None = None


class ConfirmIn(RequestModel):
    return_url: Annotated[str, Field(max_length=500)] | None = None


class CancelIn(RequestModel):
    reason: Text | None = None


class RefundIn(RequestModel):
    amount_minor: AmountMinor | None = Field(
        default=None, description="Omit to refund everything still refundable."
    )
    reason: Text | None = None


def payment_dict(session: Session, p: Payment) -> dict[str, Any]:
    """The API view of a payment, its PII opened (None once the payer was erased)."""
    return {
        "id": p.id,
        "order_id": p.order_id,
        "user_id": p.user_id,
        "amount_minor": p.amount_minor,
        "currency": p.currency,
        "method": p.method,
        "gateway": p.gateway,
        "status": p.status,
        "transaction_id": p.gateway_txn_id,
        "payment_method": p.payment_method_token,
        "card_last4": p.card_last4,
        "billing_address": fields.unseal_json(session, p.user_id, p.billing_address),
        "customer": fields.unseal_json(session, p.user_id, p.customer),
        "next_action": p.next_action,
        "failure_reason": p.failure_reason,
        "captured_minor": p.captured_minor,
        "refunded_minor": p.refunded_minor,
        "created_at": p.created_at.isoformat(),
        "updated_at": p.updated_at.isoformat(),
    }


# ---- the ledger append: the one way a payment changes -----------------------------------
def ledger_state(session: Session, payment_id: str) -> LedgerState:
    rows = session.execute(
        select(PaymentLedgerEntry.kind, PaymentLedgerEntry.amount_minor)
        .where(PaymentLedgerEntry.payment_id == payment_id)
        .order_by(PaymentLedgerEntry.seq)
    ).all()
    return derive((kind, amount) for kind, amount in rows)


def _append(
    session: Session,
    payment: Payment,
    kind: Kind,
    amount: int = 0,
    *,
    gateway_ref: str | None = None,
    reason: str | None = None,
    source: str = "api",
    state: LedgerState | None = None,
    **fields: Any,
) -> LedgerState:
    """Append one ledger entry, update the cached status (compare-and-set on ``version``)
    and write the outbox event, all in ``session``'s transaction. ``state``: the ledger
    state already read in this transaction (saves replaying the ledger again)."""
    if state is None:
        state = ledger_state(session, payment.id)
    try:
        new = apply(state, kind, amount)
    except IllegalTransition as exc:
        raise Conflict(str(exc), current_status=str(exc.current)) from exc
    _insert_entry(session, payment.id, new.seq, kind, amount, gateway_ref, reason, source)
    values = {
        "status": new.status.value if new.status else None,
        "captured_minor": new.captured_minor,
        "refunded_minor": new.refunded_minor,
        "version": new.seq,
        "updated_at": utcnow(),
        **fields,
    }
    # a concurrent append of the same seq failed on the unique constraint above; the
    # version compare-and-set catches a stale read (Core statements: no ORM bookkeeping)
    table = Payment.__table__
    result = session.execute(
        update(table).where(table.c.id == payment.id, table.c.version == state.seq).values(**values)
    )
    if rowcount(result) != 1:
        raise StaleWrite(payment.id)
    for key, value in values.items():
        set_committed_value(payment, key, value)
    _enqueue(session, payment, kind, amount)
    return new


def _open_state(payment: Payment) -> LedgerState:
    """The ledger state of a PENDING or PROCESSING payment from its row: the row caches the
    status, amounts and ``version`` (= last seq) written with every append, and an open
    payment has no refund reserved. A stale row fails the append's compare-and-set."""
    assert payment.status in (Status.PENDING.value, Status.PROCESSING.value)
    return LedgerState(
        Status(payment.status),
        amount_minor=payment.amount_minor,
        captured_minor=payment.captured_minor,
        refunded_minor=payment.refunded_minor,
        seq=payment.version,
    )


def _insert_entry(
    session: Session,
    payment_id: str,
    seq: int,
    kind: Kind,
    amount: int,
    gateway_ref: str | None,
    reason: str | None,
    source: str,
) -> None:
    session.execute(
        insert(PaymentLedgerEntry.__table__).values(
            payment_id=payment_id, seq=seq, kind=kind.value, amount_minor=amount,
            gateway_ref=gateway_ref, reason=reason, source=source, created_at=utcnow(),
        )
    )  # fmt: skip


def _enqueue(session: Session, payment: Payment, kind: Kind, amount: int = 0) -> None:
    """Write the event of a ledger entry; ``amount``: the entry's (a refund's own amount)."""
    event_type = _EVENTS.get(kind)
    if event_type:
        outbox.enqueue(
            session,
            event_type,
            {
                "payment_id": payment.id,
                "order_id": payment.order_id,
                "amount_minor": payment.amount_minor,
                "currency": payment.currency,
                "method": payment.method,
                "gateway": payment.gateway,
                "status": payment.status,
                "failure_reason": payment.failure_reason,
                "refunded_minor": payment.refunded_minor,
                "refund_minor": amount if kind is Kind.refunded else 0,
            },
            payment.id,
            user_id=payment.user_id,
        )


def _release_order(session: Session, payment: Payment) -> None:
    session.execute(
        update(Order)
        .where(Order.id == payment.order_id, Order.active_payment_id == payment.id)
        .values(active_payment_id=None)
    )


def apply_outcome(
    session: Session,
    payment: Payment,
    result: GatewayResult,
    source: str = "api",
    state: LedgerState | None = None,
) -> None:
    """Record what the gateway said (confirm, or a webhook) on a PENDING/PROCESSING payment."""
    if result.outcome is Outcome.succeeded:
        captured = result.captured_minor or payment.amount_minor
        _append(
            session, payment, Kind.captured, captured, gateway_ref=result.txn_id,
            source=source, state=state, next_action=None,
        )  # fmt: skip
        order_service.mark_paid_by_id(session, payment.order_id)
    elif result.outcome is Outcome.failed:
        payment.failure_reason = result.failure_reason or "payment_failed"
        _append(
            session, payment, Kind.failed, reason=payment.failure_reason, source=source,
            state=state, failure_reason=payment.failure_reason, next_action=None,
        )  # fmt: skip
        _release_order(session, payment)
    elif result.outcome is Outcome.cancelled:
        _append(session, payment, Kind.cancelled, source=source, state=state, next_action=None)
        _release_order(session, payment)
    elif result.outcome is Outcome.requires_action and payment.next_action != result.next_action:
        _append(
            session, payment, Kind.action_required, source=source, state=state,
            next_action=result.next_action or {"type": "pending"},
        )  # fmt: skip


# ---- reads ------------------------------------------------------------------------------
def _load(session: Session, principal: Principal, payment_id: str) -> Payment:
    payment = session.get(Payment, payment_id)
    if payment is None or not principal.can_access(payment.user_id):
        raise NotFound(f"payment {payment_id} not found", payment_id=payment_id)
    return payment


def get_payment(principal: Principal, payment_id: str) -> dict[str, Any]:
    with session_scope() as session:
        return payment_dict(session, _load(session, principal, payment_id))


def list_payments(
    principal: Principal,
    *,
    order_id: str | None = None,
    user_id: str | None = None,
    status: Status | None = None,
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    query = select(Payment)
    if user_id is not None:
        if not principal.can_access(user_id):
            raise Forbidden("customers can list only their own payments")
        query = query.where(Payment.user_id == user_id)
    elif not (principal.is_admin or principal.is_service):
        query = query.where(Payment.user_id == principal.user_id)
    if order_id is not None:
        with session_scope() as session:
            order = session.get(Order, order_id)
            if order is None or not principal.can_access(order.user_id):
                raise NotFound(f"order {order_id} not found", order_id=order_id)
        query = query.where(Payment.order_id == order_id)
    if status is not None:
        query = query.where(Payment.status == status.value)
    with session_scope() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.order_by(Payment.created_at.desc(), Payment.id).limit(limit).offset(offset)
        ).all()
        items = [payment_dict(session, p) for p in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


def ledger(principal: Principal, payment_id: str) -> list[dict[str, Any]]:
    with session_scope() as session:
        _load(session, principal, payment_id)
        rows = session.scalars(
            select(PaymentLedgerEntry)
            .where(PaymentLedgerEntry.payment_id == payment_id)
            .order_by(PaymentLedgerEntry.seq)
        ).all()
        return [
            {
                "seq": r.seq,
                "kind": r.kind,
                "amount_minor": r.amount_minor,
                "gateway_ref": r.gateway_ref,
                "reason": r.reason,
                "source": r.source,
                "created_at": r.created_at.isoformat(),
            }
            for r in rows
        ]


# ---- commands ---------------------------------------------------------------------------
def _gateway_call(fn: Callable[..., GatewayResult], *args: Any, **kwargs: Any) -> GatewayResult:
    try:
        return fn(*args, **kwargs)
    except GatewayError as exc:
        raise Unavailable(f"payment gateway unavailable: {exc}") from exc


def _payable_order(principal: Principal, data: PaymentIn) -> str:
    """Check the order can be paid with ``data``; returns its owner's user id."""
    with session_scope() as session:
        order = session.execute(
            select(Order.user_id, Order.status, Order.total_minor, Order.currency).where(
                Order.id == data.order_id
            )
        ).one_or_none()
    if order is None or not principal.can_access(order.user_id):
        raise NotFound(f"order {data.order_id} not found", order_id=data.order_id)
    if order.status != order_service.PLACED:
        raise Conflict(
            f"order is {order.status}; only a PLACED order can be paid",
            current_status=order.status,
        )
    if (data.amount_minor, data.currency) != (order.total_minor, order.currency):
        raise Invalid(
            f"amount must equal the order total {order.total_minor} {order.currency}",
            order_total_minor=order.total_minor,
            order_currency=order.currency,
        )
    return str(order.user_id)


def create_payment(
    principal: Principal, data: PaymentIn, once: Once | None = None
) -> dict[str, Any]:
    """A PENDING payment: the gateway intent is created first (keyed by the payment id,
    which an Idempotency-Key fixes), then one transaction claims the order and writes the
    payment, its first ledger entry, the outbox event and (``once``) the stored response."""
    owner = _payable_order(principal, data)
    gateway = gateways.gateway_for(data.method)
    token = data.payment_method
    if token is None:
        if gateway.name != "paypal":
            raise Invalid("payment_method (a payment-method token) is required")
        token = "paypal"
    payment_id = once.derived_id("pay") if once is not None else new_id("pay")
    try:
        result = _gateway_call(
            gateway.create,
            payment_id=payment_id,
            amount_minor=data.amount_minor,
            currency=data.currency,
            payment_method=token,
            idempotency_key=payment_id,
        )
    except ValueError as exc:
        raise Invalid(str(exc)) from exc

    def work(session: Session) -> dict[str, Any]:
        claimed = session.execute(
            update(Order)
            .where(
                Order.id == data.order_id,
                Order.status == order_service.PLACED,
                Order.active_payment_id.is_(None),
            )
            .values(active_payment_id=payment_id)
        )
        if rowcount(claimed) != 1:
            current = session.get(Order, data.order_id)
            raise Conflict(
                f"order {data.order_id} already has a payment in progress "
                f"({current.active_payment_id if current else None}) or is not PLACED",
                payment_id=current.active_payment_id if current else None,
                current_status=current.status if current else None,
            )
        first = apply(LedgerState(), Kind.created, data.amount_minor)
        payment = Payment(
            id=payment_id,
            order_id=data.order_id,
            user_id=owner,
            amount_minor=data.amount_minor,
            currency=data.currency,
            method=data.method.value,
            gateway=gateway.name,
            status=Status.PENDING.value,
            version=first.seq,
            gateway_txn_id=result.txn_id,
            payment_method_token=token,
            card_last4=result.card_last4 or None,
            billing_address=fields.seal_json(
                session, owner, data.billing_address.model_dump() if data.billing_address else None
            ),
            customer=fields.seal_json(
                session, owner, data.customer.model_dump() if data.customer else None
            ),
            next_action=result.next_action,
            captured_minor=0,
            refunded_minor=0,
            created_at=utcnow(),
        )
        payment.updated_at = payment.created_at
        # a Core insert (the row before its ledger entry's foreign key); the object stays
        # transient and only feeds the event and the response
        session.execute(
            insert(Payment.__table__).values(
                {c.key: getattr(payment, c.key) for c in Payment.__table__.columns}
            )
        )
        _insert_entry(
            session, payment_id, first.seq, Kind.created, data.amount_minor, result.txn_id,
            None, "api",
        )  # fmt: skip
        _enqueue(session, payment, Kind.created)
        return payment_dict(session, payment)

    return transact(work, once=once)


def _declined(body: dict[str, Any]) -> PaymentDeclined | None:
    if body["status"] != Status.FAILED.value:
        return None
    return PaymentDeclined(
        f"payment declined: {body['failure_reason']}",
        payment_id=body["id"],
        payment_status=body["status"],
        decline_code=body["failure_reason"],
    )


def confirm_payment(
    principal: Principal, payment_id: str, once: Once | None = None
) -> dict[str, Any]:
    """PENDING -> PROCESSING -> COMPLETED | FAILED (402) | PROCESSING with next_action.
    A PROCESSING payment may be confirmed again (the gateway call is idempotent, keyed by
    the payment id). The gateway is called first; one transaction then records processing
    and the outcome (both ledger entries and events), so a crash in between leaves the
    payment PENDING with its order claimed, and a retried confirm or the gateway's webhook
    completes it."""
    with session_scope() as session:
        payment = _load(session, principal, payment_id)
    if payment.status not in (Status.PENDING.value, Status.PROCESSING.value):
        raise Conflict(
            f"payment is {payment.status}; cannot confirm it", current_status=payment.status
        )
    gateway = gateways.by_name(payment.gateway)
    assert payment.gateway_txn_id is not None
    result = _gateway_call(gateway.confirm, payment.gateway_txn_id, idempotency_key=payment_id)

    def finish(session: Session) -> dict[str, Any]:
        current = _load(session, principal, payment_id)
        if current.status in (Status.PENDING.value, Status.PROCESSING.value):
            state = _open_state(current)
            if current.status == Status.PENDING.value:
                state = _append(session, current, Kind.processing, state=state, next_action=None)
            apply_outcome(session, current, result, state=state)
        return payment_dict(session, current)

    return transact(finish, once=once, fail=_declined)


def cancel_payment(
    principal: Principal, payment_id: str, reason: str | None = None
) -> dict[str, Any]:
    with session_scope() as session:
        payment = _load(session, principal, payment_id)
        state = ledger_state(session, payment_id)
    try:
        apply(state, Kind.cancelled)
    except IllegalTransition as exc:
        raise Conflict(str(exc), current_status=str(exc.current)) from exc
    gateway = gateways.by_name(payment.gateway)
    if payment.gateway_txn_id:
        _gateway_call(gateway.cancel, payment.gateway_txn_id, idempotency_key=payment_id)

    def work(session: Session) -> dict[str, Any]:
        current = _load(session, principal, payment_id)
        _append(session, current, Kind.cancelled, reason=reason, next_action=None)
        _release_order(session, current)
        return payment_dict(session, current)

    return transact(work)


def refund_payment(principal: Principal, payment_id: str, data: RefundIn) -> dict[str, Any]:
    """Full or partial refunds, several up to the captured amount. The amount is reserved
    in the ledger before the gateway is called, so concurrent refunds cannot over-refund."""
    if not (principal.is_admin or principal.is_service):
        raise Forbidden("refunds require role admin or service")
    reserved: dict[str, int] = {}

    def reserve(session: Session) -> Payment:
        payment = _load(session, principal, payment_id)
        state = ledger_state(session, payment_id)
        amount = data.amount_minor or state.refundable_minor
        if state.status in (Status.COMPLETED, Status.PARTIALLY_REFUNDED) and (
            amount > state.refundable_minor
        ):
            raise Invalid(
                f"refund of {amount} exceeds the refundable {state.refundable_minor}",
                refundable_minor=state.refundable_minor,
            )
        new = _append(session, payment, Kind.refund_requested, amount, reason=data.reason)
        reserved.update(amount=amount, seq=new.seq)
        return payment

    payment = transact(reserve)
    amount, seq = reserved["amount"], reserved["seq"]
    gateway = gateways.by_name(payment.gateway)
    assert payment.gateway_txn_id is not None
    try:
        result = gateway.refund(
            payment.gateway_txn_id,
            amount,
            payment.currency,
            idempotency_key=f"{payment_id}-r{seq}",
        )
    except GatewayError as exc:
        result = GatewayResult(Outcome.failed, payment.gateway_txn_id, failure_reason=str(exc))

    def settle(session: Session) -> dict[str, Any]:
        current = _load(session, principal, payment_id)
        if result.outcome is Outcome.refunded:
            _append(session, current, Kind.refunded, amount, gateway_ref=result.refund_id)
            if current.status == Status.REFUNDED.value:
                order = session.get(Order, current.order_id)
                assert order is not None
                order_service.mark_refunded(session, order)
        else:
            _append(session, current, Kind.refund_failed, amount, reason=result.failure_reason)
        return payment_dict(session, current)

    body = transact(settle)
    if result.outcome is not Outcome.refunded:
        raise Unavailable(f"refund failed at the gateway: {result.failure_reason}")
    return body


def find_by_txn(session: Session, gateway: str, txn_id: str) -> Payment | None:
    return session.scalars(
        select(Payment).where(Payment.gateway == gateway, Payment.gateway_txn_id == txn_id)
    ).first()


def check_database() -> None:
    """A trivial query on the OLTP database (payments health); raises when it is unreachable."""
    with session_scope() as session:
        session.execute(text("SELECT 1"))
