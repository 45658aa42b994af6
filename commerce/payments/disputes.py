"""Disputes (chargebacks) from the processors' webhooks: opened moves a settled payment to
DISPUTED; closed returns it to where it was (won) or to CHARGED_BACK with ledger entries for
the reversed amount and the processor's fee (lost). Each step writes its outbox event."""

from __future__ import annotations

from sqlalchemy.orm import Session

from commerce.db.models.commerce import Payment
from commerce.errors import Conflict
from commerce.payments.ledger import Kind, Status
from commerce.payments.service import _append

_SETTLED = (Status.COMPLETED.value, Status.PARTIALLY_REFUNDED.value)


def opened(session: Session, payment: Payment, amount: int, ref: str | None) -> None:
    """A dispute was opened (or updated: nothing more to record while it runs)."""
    if payment.status == Status.DISPUTED.value:
        return
    if payment.status not in _SETTLED:
        raise Conflict(
            f"payment is {payment.status}; a dispute needs a captured payment",
            current_status=payment.status,
        )
    disputed = amount or payment.captured_minor - payment.refunded_minor
    _append(session, payment, Kind.dispute_opened, disputed, gateway_ref=ref, source="webhook")


def closed(
    session: Session, payment: Payment, *, won: bool, amount: int, fee: int, ref: str | None
) -> None:
    if payment.status in _SETTLED:  # closed with no opened seen first
        opened(session, payment, amount, ref)
    if payment.status != Status.DISPUTED.value:
        raise Conflict(
            f"payment is {payment.status}; no dispute to close", current_status=payment.status
        )
    if won:
        _append(session, payment, Kind.dispute_won, gateway_ref=ref, source="webhook")
        return
    reversed_minor = amount or payment.disputed_minor
    _append(session, payment, Kind.dispute_lost, reversed_minor, gateway_ref=ref, source="webhook")
    if fee:
        _append(session, payment, Kind.dispute_fee, fee, gateway_ref=ref, source="webhook")
