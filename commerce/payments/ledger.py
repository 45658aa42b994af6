"""A payment's status is derived from its append-only ledger of transaction events.

Pure functions: ``derive(entries)`` replays the ledger; ``apply(state, kind, amount)`` is
the state machine, whose one table is ``TRANSITIONS`` (status x ledger kind -> next status;
an illegal step raises ``IllegalTransition`` naming the current state). ``docs/payments.md``
is generated from it (``shopflow payments state-table``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum


class Status(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    AUTHORIZED = "AUTHORIZED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    REFUNDED = "REFUNDED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    DISPUTED = "DISPUTED"
    CHARGED_BACK = "CHARGED_BACK"  # a dispute lost: the amount was reversed


class Kind(StrEnum):
    """Ledger entry kinds (the actions of the state machine)."""

    created = "created"
    processing = "processing"
    action_required = "action_required"
    authorized = "authorized"  # manual capture: funds held, amount = authorized
    captured = "captured"  # amount = captured; the rest of an authorization is released
    released = "released"  # an uncaptured authorization given back (cancel)
    expired = "expired"  # an uncaptured authorization lapsed
    failed = "failed"
    cancelled = "cancelled"
    refund_requested = "refund_requested"  # reserves an amount while the gateway refunds
    refunded = "refunded"
    refund_failed = "refund_failed"  # releases a reservation
    dispute_opened = "dispute_opened"  # amount = disputed
    dispute_won = "dispute_won"
    dispute_lost = "dispute_lost"  # amount = reversed
    dispute_fee = "dispute_fee"  # amount = the processor's dispute fee


S, K = Status, Kind
#: statuses of a payment still running (created or processing at the gateway)
OPEN = (S.PENDING, S.PROCESSING)
_SETTLED = (S.COMPLETED, S.PARTIALLY_REFUNDED)
#: "by amount": refunded leads to REFUNDED when all is refunded, else PARTIALLY_REFUNDED;
#: a won dispute returns to COMPLETED, or PARTIALLY_REFUNDED when part was refunded before.
BY_REFUNDS = (S.PARTIALLY_REFUNDED, S.REFUNDED)
BY_PRIOR = (S.COMPLETED, S.PARTIALLY_REFUNDED)

#: The state machine: (status, kind) -> next status, or the statuses it may lead to by
#: amount. ``None`` is "no payment yet". Every pair not listed is illegal.
TRANSITIONS: dict[tuple[Status | None, Kind], Status | tuple[Status, ...]] = {
    (None, K.created): S.PENDING,
    (S.PENDING, K.processing): S.PROCESSING,
    (S.PROCESSING, K.action_required): S.PROCESSING,
    **{(s, K.authorized): S.AUTHORIZED for s in OPEN},
    **{(s, K.captured): S.COMPLETED for s in (*OPEN, S.AUTHORIZED)},
    (S.AUTHORIZED, K.released): S.CANCELLED,
    (S.AUTHORIZED, K.expired): S.EXPIRED,
    **{(s, K.failed): S.FAILED for s in OPEN},
    **{(s, K.cancelled): S.CANCELLED for s in OPEN},
    **{(s, K.refund_requested): s for s in _SETTLED},
    **{(s, K.refunded): BY_REFUNDS for s in _SETTLED},
    **{(s, K.refund_failed): s for s in _SETTLED},
    **{(s, K.dispute_opened): S.DISPUTED for s in _SETTLED},
    (S.DISPUTED, K.dispute_won): BY_PRIOR,
    (S.DISPUTED, K.dispute_lost): S.CHARGED_BACK,
    (S.CHARGED_BACK, K.dispute_fee): S.CHARGED_BACK,
}

#: The API action that appends each kind (for messages and the docs).
VERB = {
    K.created: "create",
    K.processing: "confirm",
    K.action_required: "confirm",
    K.authorized: "confirm",
    K.captured: "capture",
    K.released: "cancel",
    K.expired: "expire",
    K.failed: "fail",
    K.cancelled: "cancel",
    K.refund_requested: "refund",
    K.refunded: "refund",
    K.refund_failed: "refund",
    K.dispute_opened: "dispute",
    K.dispute_won: "close a dispute of",
    K.dispute_lost: "close a dispute of",
    K.dispute_fee: "charge a dispute fee on",
}


#: The API's commands on an existing payment -> the ledger kinds each may append; a command
#: is legal in a status where one of its kinds is (capture: only from AUTHORIZED, as confirm
#: captures an automatic payment).
API_ACTIONS: dict[str, tuple[Kind, ...]] = {
    "confirm": (K.processing, K.action_required),
    "capture": (K.released,),  # legal exactly where a hold exists
    "cancel": (K.cancelled, K.released),
    "refund": (K.refund_requested,),
}


def api_allowed(action: str) -> frozenset[Status]:
    """The statuses in which an API command is legal (elsewhere it answers 409)."""
    return frozenset(s for s in Status for k in API_ACTIONS[action] if (s, k) in TRANSITIONS)


class IllegalTransition(Exception):
    def __init__(self, current: Status | None, kind: Kind, detail: str | None = None):
        self.current = current
        self.kind = kind
        super().__init__(detail or f"payment is {current}; cannot {VERB[kind]} it")


@dataclass(frozen=True)
class LedgerState:
    status: Status | None = None
    amount_minor: int = 0
    authorized_minor: int = 0
    captured_minor: int = 0
    refunded_minor: int = 0
    reserved_minor: int = 0  # refunds requested but not yet settled
    disputed_minor: int = 0  # in dispute now, or reversed by a lost dispute
    dispute_fee_minor: int = 0
    seq: int = 0

    @property
    def refundable_minor(self) -> int:
        return self.captured_minor - self.refunded_minor - self.reserved_minor


def apply(state: LedgerState, kind: Kind, amount: int = 0) -> LedgerState:
    """The state after one more ledger entry, or IllegalTransition."""
    target = TRANSITIONS.get((state.status, kind))
    if target is None:
        if kind is K.created:
            raise IllegalTransition(state.status, kind, "payment already exists")
        raise IllegalTransition(state.status, kind)
    nxt = replace(state, seq=state.seq + 1)
    if kind is K.created:
        return LedgerState(S.PENDING, amount_minor=amount, seq=1)
    if kind is K.authorized:
        return replace(nxt, status=S.AUTHORIZED, authorized_minor=amount)
    if kind is K.captured:
        limit = state.authorized_minor if state.status is S.AUTHORIZED else state.amount_minor
        if not 0 < amount <= limit:
            raise IllegalTransition(
                state.status, kind, f"capture of {amount} exceeds the authorized {limit}"
            )
        return replace(nxt, status=S.COMPLETED, captured_minor=amount)
    if kind is K.refund_requested:
        if not 0 < amount <= state.refundable_minor:
            raise IllegalTransition(
                state.status,
                kind,
                f"refund of {amount} exceeds the refundable {state.refundable_minor}",
            )
        return replace(nxt, reserved_minor=state.reserved_minor + amount)
    if kind is K.refund_failed:
        return replace(nxt, reserved_minor=max(state.reserved_minor - amount, 0))
    if kind is K.refunded:  # settles a reservation (or, from a webhook, a refund made elsewhere)
        reserved = max(state.reserved_minor - amount, 0)
        refunded = min(state.refunded_minor + amount, state.captured_minor)
        status = S.REFUNDED if refunded >= state.captured_minor else S.PARTIALLY_REFUNDED
        return replace(nxt, status=status, refunded_minor=refunded, reserved_minor=reserved)
    if kind is K.dispute_opened:
        return replace(nxt, status=S.DISPUTED, disputed_minor=amount)
    if kind is K.dispute_won:
        status = S.PARTIALLY_REFUNDED if state.refunded_minor else S.COMPLETED
        return replace(nxt, status=status, disputed_minor=0)
    if kind is K.dispute_lost:
        return replace(nxt, status=S.CHARGED_BACK, disputed_minor=amount or state.disputed_minor)
    if kind is K.dispute_fee:
        return replace(nxt, dispute_fee_minor=state.dispute_fee_minor + amount)
    target_status = target if isinstance(target, Status) else state.status
    return replace(nxt, status=target_status)


def derive(entries: Iterable[tuple[str, int]]) -> LedgerState:
    """Replay (kind, amount) entries in sequence order."""
    state = LedgerState()
    for kind, amount in entries:
        state = apply(state, Kind(kind), amount)
    return state


def state_table_markdown() -> str:
    """The state machine as a Markdown table: every status by every kind."""
    statuses: list[Status | None] = [None, *Status]
    header = "| status \\ action | " + " | ".join(k.value for k in Kind) + " |"
    lines = [header, "|" + "---|" * (len(Kind) + 1)]
    for status in statuses:
        cells = []
        for kind in Kind:
            target = TRANSITIONS.get((status, kind))
            if target is None:
                cells.append("409")
            elif isinstance(target, Status):
                cells.append(target.value)
            else:
                cells.append(" or ".join(t.value for t in target))
        lines.append(f"| {status.value if status else '(none)'} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def api_table_markdown() -> str:
    """Every status by every API command: 200 where legal, else 409 naming the status."""
    header = "| status | " + " | ".join(f"`{a}`" for a in API_ACTIONS) + " |"
    lines = [header, "|" + "---|" * (len(API_ACTIONS) + 1)]
    for status in Status:
        cells = ["ok" if status in api_allowed(a) else "409" for a in API_ACTIONS]
        lines.append(f"| {status.value} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
