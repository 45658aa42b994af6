"""The embedded test gateway: no network; magic payment-method tokens, named like Stripe's
test ones, decide the outcome, so no card number ever reaches the API."""

from __future__ import annotations

import hashlib

from commerce.payments.gateways.base import GatewayError, GatewayResult, Outcome

#: token -> (outcome on confirm, failure reason, last four digits)
TEST_TOKENS: dict[str, tuple[Outcome, str | None, str]] = {
    "pm_card_visa": (Outcome.succeeded, None, "4242"),
    "pm_card_mastercard": (Outcome.succeeded, None, "4444"),
    "pm_card_amex": (Outcome.succeeded, None, "8431"),
    "pm_paypal": (Outcome.succeeded, None, ""),
    "pm_bank_transfer": (Outcome.succeeded, None, ""),
    "pm_card_chargeDeclined": (Outcome.failed, "card_declined", "0002"),
    "pm_card_chargeDeclinedInsufficientFunds": (Outcome.failed, "insufficient_funds", "9995"),
    "pm_card_chargeDeclinedExpiredCard": (Outcome.failed, "expired_card", "0069"),
    "pm_card_authenticationRequired": (Outcome.requires_action, None, "3184"),
}
_TOKENS = list(TEST_TOKENS)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:20]


class TestGateway:
    """Deterministic and stateless: the intent id carries the token and amount, and derives
    from the caller's idempotency key, so a retried create returns the same intent."""

    __test__ = False  # not a pytest class
    name = "test"

    def create(
        self,
        *,
        payment_id: str,
        amount_minor: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
    ) -> GatewayResult:
        if payment_method not in TEST_TOKENS:
            raise ValueError(
                f"unknown test payment method {payment_method!r}; use one of "
                + ", ".join(TEST_TOKENS)
            )
        index = _TOKENS.index(payment_method)
        txn_id = f"ti_{index}_{amount_minor}_{_digest(idempotency_key)}"
        return GatewayResult(Outcome.created, txn_id, card_last4=TEST_TOKENS[payment_method][2])

    @staticmethod
    def _parse(txn_id: str) -> tuple[str, int]:
        try:
            _, index, amount, _ = txn_id.split("_", 3)
            return _TOKENS[int(index)], int(amount)
        except (ValueError, IndexError) as exc:
            raise GatewayError(f"not a test gateway intent: {txn_id}") from exc

    def confirm(self, txn_id: str, *, idempotency_key: str) -> GatewayResult:
        token, amount = self._parse(txn_id)
        outcome, reason, last4 = TEST_TOKENS[token]
        if outcome is Outcome.requires_action:
            action = {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure"}}
            return GatewayResult(outcome, txn_id, card_last4=last4, next_action=action)
        captured = amount if outcome is Outcome.succeeded else 0
        return GatewayResult(
            outcome, txn_id, failure_reason=reason, card_last4=last4, captured_minor=captured
        )

    def cancel(self, txn_id: str, *, idempotency_key: str) -> GatewayResult:
        self._parse(txn_id)
        return GatewayResult(Outcome.cancelled, txn_id)

    def refund(
        self, txn_id: str, amount_minor: int, currency: str, *, idempotency_key: str
    ) -> GatewayResult:
        self._parse(txn_id)
        return GatewayResult(Outcome.refunded, txn_id, refund_id="tr_" + _digest(idempotency_key))
