"""The payment gateway interface: every processor (Stripe, PayPal, the test gateway) speaks it.

Amounts are integer minor units; ``txn_id`` is the processor's id of the payment (a Stripe
PaymentIntent, a PayPal order). Gateways never see card numbers, only method tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Outcome(StrEnum):
    """What the processor says happened."""

    created = "created"  # awaits confirmation
    requires_action = "requires_action"  # e.g. 3-D Secure or buyer approval
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    refunded = "refunded"


@dataclass(frozen=True)
class GatewayResult:
    outcome: Outcome
    txn_id: str
    failure_reason: str | None = None
    card_last4: str | None = None
    next_action: dict[str, Any] | None = None
    refund_id: str | None = None
    captured_minor: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class GatewayError(Exception):
    """The processor could not be reached or answered unexpectedly (not a decline)."""


class Gateway(Protocol):
    name: str

    def create(
        self,
        *,
        payment_id: str,
        amount_minor: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
    ) -> GatewayResult: ...

    def confirm(self, txn_id: str, *, idempotency_key: str) -> GatewayResult: ...

    def cancel(self, txn_id: str, *, idempotency_key: str) -> GatewayResult: ...

    def refund(
        self, txn_id: str, amount_minor: int, currency: str, *, idempotency_key: str
    ) -> GatewayResult: ...


#: Exponent of each supported currency (minor units per major unit = 10**exponent).
CURRENCY_EXPONENT: dict[str, int] = {"JPY": 0}


def to_decimal_string(amount_minor: int, currency: str) -> str:
    """``1234, 'USD'`` -> ``'12.34'``; ``1234, 'JPY'`` -> ``'1234'`` (PayPal's format)."""
    exp = CURRENCY_EXPONENT.get(currency, 2)
    if exp == 0:
        return str(amount_minor)
    major, minor = divmod(amount_minor, 10**exp)
    return f"{major}.{minor:0{exp}d}"


def from_decimal_string(value: str, currency: str) -> int:
    exp = CURRENCY_EXPONENT.get(currency, 2)
    major, _, minor = value.partition(".")
    scale: int = 10**exp  # exp >= 0; int ** int is typed Any (a negative power is a float)
    return int(major) * scale + int((minor or "0").ljust(exp, "0")[:exp] or 0)
