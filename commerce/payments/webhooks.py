"""Gateway webhooks: verified events move payments through the same ledger as the API.
Each event id is applied once (a ``processed_webhooks`` row in the same transaction), and
what it reported is recorded as a ``payment.gateway_reported`` event (the processor's side
of the reconciliation mart), whether or not it changed the ledger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from commerce import orders as order_service
from commerce import outbox
from commerce.common import transact
from commerce.db.models.commerce import Payment, ProcessedWebhook
from commerce.errors import NotFound
from commerce.payments import disputes, sql
from commerce.payments.gateways import GatewayResult, Outcome
from commerce.payments.ledger import Kind, Status
from commerce.payments.service import _append, apply_outcome, find_by_txn, ledger_state


class Report(NamedTuple):
    """What the processor said: ``kind`` and its amount (a running total when cumulative)."""

    kind: str
    amount_minor: int
    cumulative: bool


Act = Callable[[Session, Payment], Report | None]
_REFUNDABLE = (Status.COMPLETED.value, Status.PARTIALLY_REFUNDED.value)


def _record(session: Session, provider: str, event_id: str, event_type: str) -> bool:
    """Claim an event id; False when it was already processed. A concurrent claim of the
    same id fails on the primary key at flush, and ``transact`` retries into the check."""
    if session.get(ProcessedWebhook, (provider, event_id)) is not None:
        return False
    session.add(ProcessedWebhook(provider=provider, event_id=event_id, event_type=event_type))
    session.flush()
    return True


def _refund_to(session: Session, payment: Payment, total_refunded: int) -> None:
    """Bring the ledger up to a gateway-reported cumulative refunded amount."""
    state = ledger_state(session, payment.id)
    delta = min(
        total_refunded - state.refunded_minor - state.reserved_minor, state.refundable_minor
    )
    if delta > 0 and payment.status in _REFUNDABLE:
        _append(session, payment, Kind.refunded, delta, source="webhook")
        order_service.mark_refunded_if_all(session, payment.order_id)


def _apply(
    provider: str,
    event_id: str,
    event_type: str,
    find: tuple[str, str] | None,
    act: Act,
    required: bool = False,
) -> dict[str, Any]:
    """Dedup, find the payment (by gateway txn id, or by payment id), apply ``act``."""

    def work(session: Session) -> dict[str, Any]:
        if not _record(session, provider, event_id, event_type):
            return {"received": True, "duplicate": True, "payment_id": None}
        payment = None
        if find is not None:
            by, value = find
            payment = (
                session.get(Payment, value) if by == "id" else find_by_txn(session, provider, value)
            )
        if payment is None and required:  # rolls back the claim: nothing changes
            raise NotFound(
                f"{provider} {event_type}: no payment for {find[1] if find else 'no reference'}",
                event_id=event_id,
            )
        if payment is not None:
            session.get(ProcessedWebhook, (provider, event_id)).payment_id = payment.id  # type: ignore[union-attr]  # added above in this session
            report = act(session, payment)
            if report is not None:
                _record_report(session, payment, provider, event_id, event_type, report)
        return {
            "received": True,
            "duplicate": False,
            "payment_id": payment.id if payment else None,
            "status": payment.status if payment else None,
        }

    return transact(work)


def _record_report(
    session: Session, payment: Payment, provider: str, event_id: str, event_type: str,
    report: Report,
) -> None:  # fmt: skip
    outbox.enqueue(
        session,
        "payment.gateway_reported",
        {
            "payment_id": payment.id,
            "order_id": payment.order_id,
            "gateway": provider,
            "kind": report.kind,
            "amount_minor": report.amount_minor,
            "currency": payment.currency,
            "cumulative": report.cumulative,
            "gateway_event_id": event_id,
            "gateway_event_type": event_type,
        },
        payment.id,
        user_id=payment.user_id,
    )


# ---- Stripe -----------------------------------------------------------------------------
def handle_stripe_event(event: dict[str, Any]) -> dict[str, Any]:
    obj = event["data"]["object"]
    kind = event["type"]

    def act(session: Session, payment: Payment) -> Report | None:
        if kind == "payment_intent.succeeded":
            amount = int(obj.get("amount_received") or obj.get("amount") or 0)
            if payment.status in sql.OPEN:
                result = GatewayResult(Outcome.succeeded, obj["id"], captured_minor=amount)
                apply_outcome(session, payment, result, source="webhook")
            return Report("captured", amount, True)
        if kind == "payment_intent.payment_failed" and payment.status in sql.OPEN:
            error = obj.get("last_payment_error") or {}
            reason = error.get("code") or "payment_failed"
            result = GatewayResult(Outcome.failed, obj["id"], failure_reason=reason)
            apply_outcome(session, payment, result, source="webhook")
        elif kind == "payment_intent.canceled" and payment.status in sql.OPEN:
            apply_outcome(session, payment, GatewayResult(Outcome.cancelled, obj["id"]), "webhook")
        elif kind == "payment_intent.amount_capturable_updated":
            amount = int(obj.get("amount_capturable") or obj.get("amount") or 0)
            if payment.status in sql.OPEN:
                result = GatewayResult(Outcome.authorized, obj["id"], authorized_minor=amount)
                apply_outcome(session, payment, result, source="webhook")
            return Report("authorized", amount, True)
        elif kind == "charge.refunded":
            refunded = int(obj.get("amount_refunded") or 0)
            _refund_to(session, payment, refunded)
            return Report("refunded", refunded, True)
        elif kind in ("charge.dispute.created", "charge.dispute.updated"):
            disputes.opened(session, payment, int(obj.get("amount") or 0), obj.get("id"))
            return Report("disputed", int(obj.get("amount") or 0), True)
        elif kind == "charge.dispute.closed":
            fee = sum(int(t.get("fee") or 0) for t in obj.get("balance_transactions") or [])
            won = obj.get("status") in ("won", "warning_closed")
            disputes.closed(
                session, payment, won=won, amount=int(obj.get("amount") or 0), fee=fee,
                ref=obj.get("id"),
            )  # fmt: skip
            return Report(
                "dispute_won" if won else "dispute_lost", int(obj.get("amount") or 0), True
            )
        return None

    dispute = kind.startswith("charge.dispute.")
    if kind.startswith("payment_intent."):
        find: tuple[str, str] | None = ("txn", obj["id"])
    elif kind.startswith("charge.") and obj.get("payment_intent"):
        find = ("txn", obj["payment_intent"])
    elif dispute:
        find = ("txn", str(obj.get("charge") or ""))
    else:
        find = None
    return _apply("stripe", event["id"], kind, find, act, required=dispute)


# ---- PayPal -----------------------------------------------------------------------------
def handle_paypal_event(event: dict[str, Any]) -> dict[str, Any]:
    from commerce.payments.gateways.base import from_decimal_string

    kind = str(event.get("event_type", ""))
    resource = event.get("resource") or {}
    payment_id = resource.get("custom_id")

    def act(session: Session, payment: Payment) -> Report | None:
        amount = resource.get("amount") or {}
        value = (
            from_decimal_string(amount["value"], amount.get("currency_code", payment.currency))
            if amount.get("value")
            else payment.amount_minor
        )
        if kind == "PAYMENT.CAPTURE.COMPLETED":
            if payment.status in sql.OPEN:
                result = GatewayResult(
                    Outcome.succeeded, payment.gateway_txn_id or "", captured_minor=value
                )
                apply_outcome(session, payment, result, source="webhook")
            return Report("captured", value, False)
        if (
            kind in ("PAYMENT.CAPTURE.DENIED", "PAYMENT.CAPTURE.DECLINED")
            and payment.status in sql.OPEN
        ):
            result = GatewayResult(
                Outcome.failed, "", failure_reason=kind.rsplit(".", 1)[-1].lower()
            )
            apply_outcome(session, payment, result, source="webhook")
        elif kind == "PAYMENT.CAPTURE.REFUNDED":
            _refund_to(session, payment, payment.refunded_minor + value)
            return Report("refunded", value, False)
        elif kind in ("CUSTOMER.DISPUTE.CREATED", "CUSTOMER.DISPUTE.UPDATED"):
            disputes.opened(session, payment, disputed, resource.get("dispute_id"))
            return Report("disputed", disputed, True)
        elif kind == "CUSTOMER.DISPUTE.RESOLVED":
            outcome = (resource.get("dispute_outcome") or {}).get("outcome_code", "")
            won = outcome == "RESOLVED_SELLER_FAVOUR"
            disputes.closed(
                session, payment, won=won, amount=disputed, fee=0,
                ref=resource.get("dispute_id"),
            )  # fmt: skip
            return Report("dispute_won" if won else "dispute_lost", disputed, True)
        return None

    dispute, disputed = kind.startswith("CUSTOMER.DISPUTE."), 0
    if dispute:  # the disputed transaction carries the custom id the order was made with
        txns = resource.get("disputed_transactions") or [{}]
        payment_id = txns[0].get("custom") if isinstance(txns[0], dict) else None
        money = resource.get("dispute_amount") or {}
        disputed = (
            from_decimal_string(str(money["value"]), str(money.get("currency_code", "USD")))
            if money.get("value")
            else 0
        )
    find = ("id", str(payment_id)) if payment_id else None
    return _apply("paypal", str(event["id"]), kind, find, act, required=dispute)
