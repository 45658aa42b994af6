"""The state machine table, exhaustively: every status by every ledger kind, and the
generated docs/payments.md is what the table renders."""

from __future__ import annotations

from pathlib import Path

import pytest

from commerce.payments.docs import render
from commerce.payments.ledger import (
    TRANSITIONS,
    IllegalTransition,
    Kind,
    LedgerState,
    Status,
    apply,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "payments.md"
AMOUNT = 1000


def _state(status: Status | None) -> LedgerState:
    """A state in ``status`` with amounts that let every legal kind apply."""
    if status is None:
        return LedgerState()
    return LedgerState(status, amount_minor=AMOUNT, authorized_minor=AMOUNT,
                       captured_minor=AMOUNT, refunded_minor=0, disputed_minor=AMOUNT,
                       seq=3)  # fmt: skip


@pytest.mark.parametrize("status", [None, *Status], ids=lambda s: str(s))
@pytest.mark.parametrize("kind", list(Kind), ids=str)
def test_every_status_by_every_kind(status: Status | None, kind: Kind) -> None:
    target = TRANSITIONS.get((status, kind))
    state = _state(status)
    if target is None:
        with pytest.raises(IllegalTransition) as info:
            apply(state, kind, AMOUNT // 2)
        assert info.value.current == status
        if kind is not Kind.created:
            assert f"payment is {status}" in str(info.value)
        return
    new = apply(state, kind, AMOUNT // 2)
    allowed = (target,) if isinstance(target, Status) else target
    assert new.status in allowed and new.seq == state.seq + 1


def test_amount_rules() -> None:
    held = LedgerState(Status.AUTHORIZED, amount_minor=AMOUNT, authorized_minor=600, seq=3)
    with pytest.raises(IllegalTransition, match="exceeds the authorized 600"):
        apply(held, Kind.captured, 601)
    assert apply(held, Kind.captured, 600).captured_minor == 600
    done = apply(held, Kind.captured, 400)
    assert apply(done, Kind.refunded, 400).status is Status.REFUNDED
    assert apply(done, Kind.refunded, 100).status is Status.PARTIALLY_REFUNDED
    disputed = apply(apply(done, Kind.refunded, 100), Kind.dispute_opened, 300)
    assert apply(disputed, Kind.dispute_won).status is Status.PARTIALLY_REFUNDED
    lost = apply(apply(disputed, Kind.dispute_lost, 300), Kind.dispute_fee, 1500)
    assert (lost.status, lost.disputed_minor, lost.dispute_fee_minor) == (
        Status.CHARGED_BACK, 300, 1500,
    )  # fmt: skip


def test_docs_are_generated_from_the_table() -> None:
    assert DOCS.read_text() == render(), "run: shopflow payments docs --write docs/payments.md"
    for status in Status:
        assert f"| {status.value} |" in DOCS.read_text()
