"""The payment gateway interface: every processor (Stripe, PayPal, the test gateway) speaks it.

Amounts are integer minor units; ``txn_id`` is the processor's id of the payment (a Stripe
PaymentIntent, a PayPal order). Gateways never see card numbers, only method tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from shopflow import currency as currency_units


class Outcome(StrEnum):
    """What the processor says happened."""

    created = "created"  # awaits confirmation
    requires_action = "requires_action"  # e.g. 3-D Secure or buyer approval
    authorized = "authorized"  # manual capture: funds held until captured or released
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
    authorized_minor: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class GatewayError(Exception):
    """The processor could not be reached or answered unexpectedly (not a decline)."""


class Gateway(Protocol):
    name: str
    remote: bool
    """Whether a call waits on the network (the caller gives its work slot back meanwhile)."""

    def create(
        self,
        *,
        payment_id: str,
        amount_minor: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
        capture: str = "automatic",
    ) -> GatewayResult:
        """A payment intent; ``capture="manual"``: confirming only authorizes it."""
        ...

    def confirm(self, txn_id: str, *, idempotency_key: str) -> GatewayResult: ...

    def capture(
        self, txn_id: str, amount_minor: int, currency: str, *, idempotency_key: str
    ) -> GatewayResult:
        """Capture ``amount_minor`` of an authorization; the processor releases the rest."""
        ...

    def cancel(self, txn_id: str, *, idempotency_key: str) -> GatewayResult:
        """Cancel an unconfirmed intent, or release (void) an uncaptured authorization."""
        ...

    def refund(
        self, txn_id: str, amount_minor: int, currency: str, *, idempotency_key: str
    ) -> GatewayResult: ...


def to_decimal_string(amount_minor: int, currency: str) -> str:
    """``1234, 'USD'`` -> ``'12.34'`` (PayPal's format; exponents from ``shopflow.currency``)."""
    return currency_units.to_decimal_string(amount_minor, currency)


def from_decimal_string(value: str, currency: str) -> int:
    """``'12.34', 'USD'`` -> 1234; more decimals than the currency has raise ValueError."""
    return currency_units.to_minor(value, currency)
