"""Payments: create, confirm, cancel, refund through a gateway; status derived from the
append-only ledger; every state change writes its outbox event in the same transaction.

Gateway calls happen outside database transactions, each with an idempotency key derived
from the payment (and the ledger step), so a retried request never charges twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, NoReturn

from pydantic import Field, model_validator
from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from commerce import orders as order_service
from commerce import outbox, work_slots
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
from commerce.db import direct, read_connection, read_scope, session_scope, utcnow
from commerce.db.models.commerce import Order, Payment, PaymentLedgerEntry
from commerce.errors import Conflict, Forbidden, Invalid, NotFound, PaymentDeclined, Unavailable
from commerce.idempotency import Once
from commerce.payments import authentication, gateways, sql
from commerce.payments.gateways import GatewayError, GatewayResult, Outcome
from commerce.payments.gateways.testing import THREE_D_SECURE
from commerce.payments.ledger import (
    IllegalTransition,
    Kind,
    LedgerState,
    Status,
    api_allowed,
    apply,
    derive,
)
from commerce.privacy import fields
from shopflow import currency, events
from shopflow.config import get_settings
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
    Kind.authorized: "payment.authorized",
    Kind.released: "payment.released",
    Kind.expired: "payment.released",
    Kind.dispute_opened: "payment.dispute_opened",
    Kind.dispute_won: "payment.dispute_closed",
    Kind.dispute_lost: "payment.dispute_closed",
}
DecimalAmount = Annotated[str, Field(pattern=r"^\d{1,12}(\.\d{1,8})?$")]


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
    amount_minor: AmountMinor | None = Field(
        default=None, description="Integer minor units; or give `amount` instead."
    )
    amount: DecimalAmount | None = Field(
        default=None,
        description="A decimal amount in major units (`'12.50'`); no more decimals than the "
        "currency has.",
    )
    currency: CurrencyCode
    capture: Literal["automatic", "manual"] = Field(
        default="automatic",
        description="manual: confirm only authorizes; capture with POST /{id}/capture.",
    )
    method: PaymentMethod
    payment_method: Token | None = Field(
        default=None, description="A gateway payment-method token (e.g. pm_card_visa)."
    )
    billing_address: Address | None = None
    customer: Customer | None = None

    @model_validator(mode="after")
    def _one_amount(self) -> PaymentIn:
        if (self.amount is None) == (self.amount_minor is None):
            raise ValueError("give exactly one of amount_minor and amount")
        if self.amount is not None:
            minor = currency.to_minor(self.amount, self.currency)
            if minor < 1:
                raise ValueError("amount must be positive")
            self.amount_minor = minor
        return self

    @property
    def minor(self) -> int:
        assert self.amount_minor is not None  # set by the validator
        return self.amount_minor


class CaptureIn(RequestModel):
    amount_minor: AmountMinor | None = Field(
        default=None, description="Omit to capture all that is authorized; the rest is released."
    )


class AuthenticateIn(RequestModel):
    """The 3-D Secure page's form."""

    token: Annotated[str, Field(min_length=1, max_length=64)]
    result: Literal["approve", "fail"]


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
        "capture": p.capture_mode,
        "authorized_minor": p.authorized_minor,
        "authorization_expires_at": (
            p.authorization_expires_at.isoformat() if p.authorization_expires_at else None
        ),
        "captured_minor": p.captured_minor,
        "refunded_minor": p.refunded_minor,
        "disputed_minor": p.disputed_minor,
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
    appends = _Appends(session, payment, state)
    appends.add(kind, amount, gateway_ref=gateway_ref, reason=reason, source=source, **fields)
    return appends.write()


class _Appends:
    """Ledger entries of one payment appended in one write: the entries in one statement, one
    compare-and-set of the payment row from the state read to the last entry's, and their
    outbox events in one statement (a confirm records processing and its outcome at once)."""

    def __init__(
        self, session: Session, payment: Payment, state: LedgerState | None = None
    ) -> None:
        self.session, self.payment = session, payment
        self.read = state if state is not None else ledger_state(session, payment.id)
        self.state = self.read
        self.entries: list[dict[str, Any]] = []
        self.values: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []

    def add(
        self,
        kind: Kind,
        amount: int = 0,
        *,
        gateway_ref: str | None = None,
        reason: str | None = None,
        source: str = "api",
        **fields: Any,
    ) -> None:
        """Apply one entry to the payment in memory (written by ``write``); an illegal step
        raises a 409 and writes nothing."""
        try:
            new = apply(self.state, kind, amount)
        except IllegalTransition as exc:
            raise Conflict(str(exc), current_status=str(exc.current)) from exc
        entry = _entry(self.payment.id, new.seq, kind, amount, gateway_ref, reason, source)
        self.entries.append(entry)
        values = {
            "status": new.status.value if new.status else None,
            "authorized_minor": new.authorized_minor,
            "captured_minor": new.captured_minor,
            "refunded_minor": new.refunded_minor,
            "disputed_minor": new.disputed_minor,
            "dispute_fee_minor": new.dispute_fee_minor,
            "version": new.seq,
            "updated_at": entry["created_at"],
            **fields,
        }
        self.values.update(values)
        for key, value in values.items():
            set_committed_value(self.payment, key, value)
        event = _event(self.payment, kind, amount)
        if event is not None:
            self.events.append(event)
        self.state = new

    def write(self, beside: Sequence[direct.Write] = ()) -> LedgerState:
        """Write what ``add`` applied; returns the ledger state after it. ``beside``: writes
        sent with the entries (none may depend on the payment's row)."""
        if not self.entries:
            for statement, params in beside:
                direct.execute(self.session, statement, params)
            return self.state
        session = self.session
        # the entries, ``beside`` and the compare-and-set in one statement on PostgreSQL: a
        # concurrent append of the same seq fails on the entries' unique constraint; the
        # version compare-and-set catches a stale read (Core statements: no ORM bookkeeping)
        result = direct.execute_together(
            session,
            [
                (sql.insert_entry(), self.entries),
                *beside,
                (sql.set_payment(),
                 {**self.values, "p_id": self.payment.id, "p_seen": self.read.seq}),
            ],
        )  # fmt: skip
        if result.rowcount != 1:
            raise StaleWrite(self.payment.id)
        outbox.enqueue_rows(session, self.events)
        self.entries, self.values, self.events, self.read = [], {}, [], self.state
        return self.state


def _open_state(payment: Payment) -> LedgerState:
    """The ledger state of a PENDING or PROCESSING payment from its row: the row caches the
    status, amounts and ``version`` (= last seq) written with every append, and an open
    payment has no refund reserved. A stale row fails the append's compare-and-set."""
    assert payment.status in sql.OPEN
    return LedgerState(
        Status(payment.status),
        amount_minor=payment.amount_minor,
        authorized_minor=payment.authorized_minor,
        captured_minor=payment.captured_minor,
        refunded_minor=payment.refunded_minor,
        seq=payment.version,
    )


def _entry(
    payment_id: str,
    seq: int,
    kind: Kind,
    amount: int = 0,
    gateway_ref: str | None = None,
    reason: str | None = None,
    source: str = "api",
) -> dict[str, Any]:
    """A ledger entry's row (``sql.insert_entry``'s parameters)."""
    return {"payment_id": payment_id, "seq": seq, "kind": kind.value, "amount_minor": amount,
            "gateway_ref": gateway_ref, "reason": reason, "source": source,
            "created_at": utcnow()}  # fmt: skip


def _event(payment: Payment, kind: Kind, amount: int = 0) -> dict[str, Any] | None:
    """The outbox row of a ledger entry's event, if it has one; ``amount``: the entry's (a
    refund's own amount)."""
    event_type = _EVENTS.get(kind)
    if kind is Kind.captured and payment.capture_mode == "manual":
        event_type = "payment.captured"
    if not event_type:
        return None
    payload = {
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
        "authorized_minor": payment.authorized_minor,
        "captured_minor": payment.captured_minor,
        "disputed_minor": payment.disputed_minor,
    }
    event = events.make_event(event_type, payload, user_id=payment.user_id)
    return outbox.row(event, payment.id)


def _release(payment: Payment) -> direct.Write:
    """The write that frees ``payment``'s order for another payment."""
    return sql.release_order(), {"p_order": payment.order_id, "p_payment": payment.id}


def _release_order(session: Session, payment: Payment) -> None:
    direct.execute(session, *_release(payment))


#: outcomes after which the payment no longer runs: its order may take another payment
_ENDS_THE_RUN = (Outcome.succeeded, Outcome.authorized, Outcome.failed, Outcome.cancelled)


def apply_outcome(
    session: Session,
    payment: Payment,
    result: GatewayResult,
    source: str = "api",
    appends: _Appends | None = None,
) -> None:
    """Record what the gateway said (confirm, or a webhook) on a PENDING/PROCESSING payment;
    ``appends``: entries already applied (e.g. processing), written with the outcome's."""
    appends = appends if appends is not None else _Appends(session, payment)
    outcome = result.outcome
    if outcome is Outcome.succeeded:
        captured = result.captured_minor or payment.amount_minor
        appends.add(
            Kind.captured, captured, gateway_ref=result.txn_id, source=source, next_action=None
        )
    elif outcome is Outcome.authorized:
        ttl = timedelta(seconds=get_settings().payment_authorization_ttl_s)
        appends.add(
            Kind.authorized, result.authorized_minor or payment.amount_minor,
            gateway_ref=result.txn_id, source=source, next_action=None,
            authorization_expires_at=utcnow() + ttl,
        )  # fmt: skip
    elif outcome is Outcome.failed:
        payment.failure_reason = result.failure_reason or "payment_failed"
        appends.add(
            Kind.failed, reason=payment.failure_reason, source=source,
            failure_reason=payment.failure_reason, next_action=None,
        )  # fmt: skip
    elif outcome is Outcome.cancelled:
        appends.add(Kind.cancelled, source=source, next_action=None)
    elif outcome is Outcome.requires_action:
        action = result.next_action or {"type": "pending"}
        if action == THREE_D_SECURE:
            action = authentication.next_action(payment.id)
        if payment.next_action != action:
            appends.add(Kind.action_required, source=source, next_action=action)
    release = [_release(payment)] if outcome in _ENDS_THE_RUN else []
    appends.write(beside=release)  # also what was applied before, whatever the outcome
    if outcome is Outcome.succeeded:
        order_service.mark_paid_if_covered(session, payment.order_id)


# ---- reads ------------------------------------------------------------------------------
def _load(session: Session, principal: Principal, payment_id: str) -> Payment:
    payment = session.scalars(sql.payment_by_id(), {"p_id": payment_id}).one_or_none()
    if payment is None or not principal.can_access(payment.user_id):
        raise NotFound(f"payment {payment_id} not found", payment_id=payment_id)
    return payment


def get_payment(principal: Principal, payment_id: str) -> dict[str, Any]:
    with read_scope() as session:
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
def _waiting_on(gateway: object) -> AbstractContextManager[None]:
    """Around a gateway call: a remote gateway's wait holds no work slot
    (``commerce.work_slots``); an in-process one answers at once and keeps it."""
    return work_slots.waiting() if getattr(gateway, "remote", True) else nullcontext()


def _gateway_call(fn: Callable[..., GatewayResult], *args: Any, **kwargs: Any) -> GatewayResult:
    try:
        with _waiting_on(getattr(fn, "__self__", None)):
            return fn(*args, **kwargs)
    except GatewayError as exc:
        raise Unavailable(f"payment gateway unavailable: {exc}") from exc


def _payable_order(principal: Principal, data: PaymentIn) -> str:
    """Check the order can be paid with ``data``; returns its owner's user id."""
    with read_connection() as connection:  # one Core read: no ORM session needed
        order = _order_to_pay(connection, data.order_id)
    if order is None or not principal.can_access(order.user_id):
        raise NotFound(f"order {data.order_id} not found", order_id=data.order_id)
    if order.status != order_service.PLACED:
        raise Conflict(
            f"order is {order.status}; only a PLACED order can be paid",
            current_status=order.status,
        )
    if data.currency != order.currency:
        raise Invalid(
            f"currency must be the order's {order.currency}", order_currency=order.currency
        )
    _check_outstanding(order, data.minor)
    return str(order.user_id)


def _order_to_pay(db: Session | Connection, order_id: str) -> sql.PayableOrder | None:
    """The order's owner, status, total and currency, and what its payments already cover
    (``committed_minor``: captured amounts, held authorizations, payments still running)."""
    return db.execute(sql.payable_order(), {"p_order": order_id}).one_or_none()


def _check_outstanding(order: sql.PayableOrder, amount: int) -> None:
    """Split tender: a payment may cover at most what the order's other payments leave."""
    total = order.total_minor
    outstanding = total - int(order.committed_minor)  # PostgreSQL sums to a Decimal
    if amount > outstanding:
        raise Invalid(
            f"amount {amount} exceeds the {outstanding} still to pay on the order (total {total})",
            outstanding_minor=outstanding,
            order_total_minor=total,
        )


def _why_not_claimed(session: Session, data: PaymentIn) -> NoReturn:
    """Raise why the order could not be claimed: another payment runs on it or it is no
    longer PLACED (409), or its other payments now leave less than the amount (422)."""
    order = _order_to_pay(session, data.order_id)
    if order is None or order.status != order_service.PLACED or order.active_payment_id:
        raise Conflict(
            f"order {data.order_id} already has a payment in progress "
            f"({order.active_payment_id if order else None}) or is not PLACED",
            payment_id=order.active_payment_id if order else None,
            current_status=order.status if order else None,
        )
    _check_outstanding(order, data.minor)
    raise StaleWrite(data.order_id)  # changed since the claim: the transaction retries


def create_payment(
    principal: Principal, data: PaymentIn, once: Once | None = None
) -> dict[str, Any]:
    """A PENDING payment: the gateway intent is created first (keyed by the payment id,
    which an Idempotency-Key fixes), then one transaction claims the order and writes the
    payment, its first ledger entry, the outbox event and (``once``) the stored response."""
    owner = _payable_order(principal, data)
    try:
        gateway = gateways.gateway_for(data.method)
    except gateways.GatewayNotConfigured as exc:
        raise Unavailable(str(exc), missing_setting=exc.setting) from exc
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
            amount_minor=data.minor,
            currency=data.currency,
            payment_method=token,
            idempotency_key=payment_id,
            capture=data.capture,
        )
    except ValueError as exc:
        raise Invalid(str(exc)) from exc

    def work(session: Session) -> dict[str, Any]:
        claimed = direct.execute(
            session,
            sql.claim_order(),
            {"p_order": data.order_id, "p_status": order_service.PLACED,
             "p_amount": data.minor, "active_payment_id": payment_id},
        )  # fmt: skip
        if claimed.rowcount != 1:
            _why_not_claimed(session, data)
        first = apply(LedgerState(), Kind.created, data.minor)
        payment = Payment(
            id=payment_id,
            order_id=data.order_id,
            user_id=owner,
            amount_minor=data.minor,
            currency=data.currency,
            method=data.method.value,
            capture_mode=data.capture,
            authorized_minor=0,
            disputed_minor=0,
            dispute_fee_minor=0,
            authorization_expires_at=None,
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
        # Core inserts of the row, its first ledger entry and its event, sent with the
        # transaction's last write (nothing reads them before); the object stays transient
        # and only feeds the event and the response
        columns = Payment.__table__.columns
        direct.later(
            session, sql.insert_payment(), {c.key: getattr(payment, c.key) for c in columns}
        )
        direct.later(
            session,
            sql.insert_entry(),
            _entry(payment_id, first.seq, Kind.created, data.minor, result.txn_id),
        )
        created = _event(payment, Kind.created)
        assert created is not None  # a payment's creation always has its event
        outbox.enqueue_rows(session, [created])
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
    with read_scope() as session:
        payment = _load(session, principal, payment_id)
    if payment.status not in sql.OPEN:
        raise Conflict(
            f"payment is {payment.status}; cannot confirm it", current_status=payment.status
        )
    gateway = gateways.by_name(payment.gateway)
    assert payment.gateway_txn_id is not None
    result = _gateway_call(gateway.confirm, payment.gateway_txn_id, idempotency_key=payment_id)

    read_before = [payment]

    def finish(session: Session) -> dict[str, Any]:
        # the row read before the gateway call, if it is still current: the appends'
        # compare-and-set says so (a retry reads it again)
        current = read_before.pop() if read_before else _load(session, principal, payment_id)
        if current.status in sql.OPEN:
            appends = _Appends(session, current, _open_state(current))
            if current.status == Status.PENDING.value:
                appends.add(Kind.processing, next_action=None)
            apply_outcome(session, current, result, appends=appends)
        return payment_dict(session, current)

    return transact(finish, once=once, fail=_declined)


def cancel_payment(
    principal: Principal, payment_id: str, reason: str | None = None
) -> dict[str, Any]:
    """Cancel a PENDING or PROCESSING payment, or release an AUTHORIZED one's hold."""
    with session_scope() as session:
        payment = _load(session, principal, payment_id)
        state = ledger_state(session, payment_id)
    kind = Kind.released if state.status is Status.AUTHORIZED else Kind.cancelled
    _check(state, kind)
    gateway = _gateway(payment.gateway)
    if payment.gateway_txn_id:
        _gateway_call(gateway.cancel, payment.gateway_txn_id, idempotency_key=payment_id)

    def work(session: Session) -> dict[str, Any]:
        current = _load(session, principal, payment_id)
        _append(
            session, current, kind, current.authorized_minor if kind is Kind.released else 0,
            reason=reason, next_action=None, authorization_expires_at=None,
        )  # fmt: skip
        _release_order(session, current)
        return payment_dict(session, current)

    return transact(work)


def _check(state: LedgerState, kind: Kind, amount: int = 0) -> None:
    """409 naming the current status when ``kind`` may not follow it (no state change)."""
    try:
        apply(state, kind, amount)
    except IllegalTransition as exc:
        raise Conflict(str(exc), current_status=str(exc.current)) from exc


def _gateway(name: str) -> gateways.Gateway:
    try:
        return gateways.by_name(name)
    except GatewayError as exc:
        raise Unavailable(str(exc)) from exc


def capture_payment(
    principal: Principal, payment_id: str, data: CaptureIn, now: datetime | None = None
) -> dict[str, Any]:
    """Capture all or part of an AUTHORIZED payment (the processor releases the rest).
    More than authorized (422), an expired authorization or another status (409) change
    nothing and call no gateway."""
    if not (principal.is_admin or principal.is_service):
        raise Forbidden("capture requires role admin or service")
    with session_scope() as session:
        payment = _load(session, principal, payment_id)
        state = ledger_state(session, payment_id)
    if state.status not in api_allowed("capture"):
        raise Conflict(
            f"payment is {state.status}; only an AUTHORIZED payment can be captured",
            current_status=str(state.status),
        )
    amount = data.amount_minor or state.authorized_minor
    if amount > state.authorized_minor:
        raise Invalid(
            f"capture of {amount} exceeds the authorized {state.authorized_minor}",
            authorized_minor=state.authorized_minor,
        )
    expires = payment.authorization_expires_at
    if expires is not None and expires <= (now or utcnow()):
        raise Conflict(
            f"the authorization expired at {expires.isoformat()}; it can no longer be captured",
            current_status=state.status.value if state.status else None,
            authorization_expires_at=expires.isoformat(),
        )
    gateway = _gateway(payment.gateway)
    assert payment.gateway_txn_id is not None
    result = _gateway_call(
        gateway.capture, payment.gateway_txn_id, amount, payment.currency,
        idempotency_key=f"{payment_id}-c{state.seq}",
    )  # fmt: skip
    if result.outcome is not Outcome.succeeded:
        raise Unavailable(f"capture failed at the gateway: {result.failure_reason}")

    def work(session: Session) -> dict[str, Any]:
        current = _load(session, principal, payment_id)
        released = state.authorized_minor - amount
        _append(
            session, current, Kind.captured, amount, gateway_ref=result.txn_id,
            reason=f"released {released}" if released else None, authorization_expires_at=None,
        )  # fmt: skip
        order_service.mark_paid_if_covered(session, current.order_id)
        return payment_dict(session, current)

    return transact(work)


def expire_authorizations(now: datetime | None = None, limit: int = 500) -> list[str]:
    """Release every AUTHORIZED payment whose hold has lapsed (the scheduled job). Returns
    the ids released; one the gateway cannot release now stays for the next run."""
    at = now or utcnow()
    with session_scope() as session:
        due = session.scalars(
            select(Payment)
            .where(
                Payment.status == Status.AUTHORIZED.value,
                Payment.authorization_expires_at <= at,
            )
            .order_by(Payment.authorization_expires_at)
            .limit(limit)
        ).all()
    released = []
    for payment in due:
        try:
            if payment.gateway_txn_id:
                gateways.by_name(payment.gateway).cancel(
                    payment.gateway_txn_id, idempotency_key=payment.id
                )
        except GatewayError:
            continue

        def work(session: Session, payment_id: str = payment.id) -> None:
            current = session.get(Payment, payment_id)
            if current is not None and current.status == Status.AUTHORIZED.value:
                _append(
                    session, current, Kind.expired, current.authorized_minor,
                    reason="authorization expired", source="job", authorization_expires_at=None,
                )  # fmt: skip
                _release_order(session, current)
                released.append(payment_id)

        transact(work)
    return released


def authenticate_payment(payment_id: str, token: str, approved: bool) -> dict[str, Any]:
    """The 3-D Secure page's answer (signed link, no login): settles a PROCESSING payment
    that waits for Shopflow's own authentication, as a gateway webhook would."""
    if not authentication.verify(payment_id, token):
        raise NotFound(f"payment {payment_id} not found", payment_id=payment_id)

    def work(session: Session) -> dict[str, Any]:
        payment = session.get(Payment, payment_id)
        if payment is None:
            raise NotFound(f"payment {payment_id} not found", payment_id=payment_id)
        if payment.status != Status.PROCESSING.value or not authentication.awaits(payment):
            raise Conflict(
                f"payment is {payment.status}; nothing to authenticate",
                current_status=payment.status,
            )
        assert payment.gateway_txn_id is not None
        gateway = gateways.by_name(payment.gateway)
        assert isinstance(gateway, gateways.TestGateway)
        result = gateway.authenticated(payment.gateway_txn_id, approved=approved)
        apply_outcome(session, payment, result, source="3ds")
        return {"id": payment.id, "status": payment.status, "user_id": payment.user_id}

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
                f"refund of {amount} exceeds the refundable {state.refundable_minor} of "
                f"payment {payment_id}; the order's other payments are refunded by their own id",
                refundable_minor=state.refundable_minor,
                payment_id=payment_id,
            )
        new = _append(session, payment, Kind.refund_requested, amount, reason=data.reason)
        reserved.update(amount=amount, seq=new.seq)
        return payment

    payment = transact(reserve)
    amount, seq = reserved["amount"], reserved["seq"]
    gateway = gateways.by_name(payment.gateway)
    assert payment.gateway_txn_id is not None
    try:
        with _waiting_on(gateway):
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
            order_service.mark_refunded_if_all(session, current.order_id)
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
