"""A payment's status is derived from its append-only ledger of transaction events.

Pure functions: ``derive(entries)`` replays the ledger; ``apply(state, kind, amount)`` is
the state machine (an illegal step raises ``IllegalTransition`` naming the current state).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum


class Status(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"


class Kind(StrEnum):
    """Ledger entry kinds."""

    created = "created"
    processing = "processing"
    action_required = "action_required"
    captured = "captured"
    failed = "failed"
    cancelled = "cancelled"
    refund_requested = "refund_requested"  # reserves an amount while the gateway refunds
    refunded = "refunded"
    refund_failed = "refund_failed"  # releases a reservation


#: kind -> statuses it may follow (None: only as the first entry).
_ALLOWED_FROM: dict[Kind, frozenset[Status] | None] = {
    Kind.created: None,
    Kind.processing: frozenset({Status.PENDING}),
    Kind.action_required: frozenset({Status.PROCESSING}),
    Kind.captured: frozenset({Status.PENDING, Status.PROCESSING}),
    Kind.failed: frozenset({Status.PENDING, Status.PROCESSING}),
    Kind.cancelled: frozenset({Status.PENDING, Status.PROCESSING}),
    Kind.refund_requested: frozenset({Status.COMPLETED, Status.PARTIALLY_REFUNDED}),
    Kind.refunded: frozenset({Status.COMPLETED, Status.PARTIALLY_REFUNDED}),
    Kind.refund_failed: frozenset({Status.COMPLETED, Status.PARTIALLY_REFUNDED}),
}

_VERB = {
    Kind.processing: "confirm",
    Kind.action_required: "confirm",
    Kind.captured: "capture",
    Kind.failed: "fail",
    Kind.cancelled: "cancel",
    Kind.refund_requested: "refund",
    Kind.refunded: "refund",
    Kind.refund_failed: "refund",
}


class IllegalTransition(Exception):
    def __init__(self, current: Status | None, kind: Kind, detail: str | None = None):
        self.current = current
        self.kind = kind
        verb = _VERB.get(kind, kind.value)
        super().__init__(detail or f"payment is {current}; cannot {verb} it")


@dataclass(frozen=True)
class LedgerState:
    status: Status | None = None
    amount_minor: int = 0
    captured_minor: int = 0
    refunded_minor: int = 0
    reserved_minor: int = 0  # refunds requested but not yet settled
    seq: int = 0

    @property
    def refundable_minor(self) -> int:
        return self.captured_minor - self.refunded_minor - self.reserved_minor


def apply(state: LedgerState, kind: Kind, amount: int = 0) -> LedgerState:
    """The state after one more ledger entry, or IllegalTransition."""
    allowed = _ALLOWED_FROM[kind]
    if allowed is None:
        if state.status is not None:
            raise IllegalTransition(state.status, kind, "payment already exists")
        return LedgerState(Status.PENDING, amount_minor=amount, seq=1)
    if state.status not in allowed:
        raise IllegalTransition(state.status, kind)
    nxt = replace(state, seq=state.seq + 1)
    if kind is Kind.processing or kind is Kind.action_required:
        return replace(nxt, status=Status.PROCESSING)
    if kind is Kind.captured:
        return replace(nxt, status=Status.COMPLETED, captured_minor=amount)
    if kind is Kind.failed:
        return replace(nxt, status=Status.FAILED)
    if kind is Kind.cancelled:
        return replace(nxt, status=Status.CANCELLED)
    if kind is Kind.refund_requested:
        if not 0 < amount <= state.refundable_minor:
            raise IllegalTransition(
                state.status,
                kind,
                f"refund of {amount} exceeds the refundable {state.refundable_minor}",
            )
        return replace(nxt, reserved_minor=state.reserved_minor + amount)
    if kind is Kind.refund_failed:
        return replace(nxt, reserved_minor=max(state.reserved_minor - amount, 0))
    # refunded: settles a reservation (or, from a webhook, a refund made elsewhere)
    reserved = max(state.reserved_minor - amount, 0)
    refunded = min(state.refunded_minor + amount, state.captured_minor)
    status = Status.REFUNDED if refunded >= state.captured_minor else Status.PARTIALLY_REFUNDED
    return replace(nxt, status=status, refunded_minor=refunded, reserved_minor=reserved)


def derive(entries: Iterable[tuple[str, int]]) -> LedgerState:
    """Replay (kind, amount) entries in sequence order."""
    state = LedgerState()
    for kind, amount in entries:
        state = apply(state, Kind(kind), amount)
    return state
