"""The embedded test gateway: no network; magic payment-method tokens, named like Stripe's
test ones, decide the outcome, so no card number ever reaches the API. With manual capture a
successful confirm authorizes; ``capture`` then charges part or all of it.
``pm_card_authenticationRequired`` asks for 3-D Secure: the next action is Shopflow's own
authentication page (``THREE_D_SECURE``), whose answer settles the payment."""

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
_MODES = {"automatic": "a", "manual": "m"}
#: the next action of a payment awaiting 3-D Secure on this gateway (the service turns it
#: into a redirect to ``/api/payments/{id}/authenticate``)
THREE_D_SECURE = {"type": "three_d_secure", "provider": "shopflow"}


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:20]


class TestGateway:
    """Deterministic and stateless: the intent id carries the token and amount, and derives
    from the caller's idempotency key, so a retried create returns the same intent."""

    __test__ = False  # not a pytest class
    name = "test"
    remote = False  # answers in-process

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
        if payment_method not in TEST_TOKENS:
            raise ValueError(
                f"unknown test payment method {payment_method!r}; use one of "
                + ", ".join(TEST_TOKENS)
            )
        index = _TOKENS.index(payment_method)
        txn_id = f"ti_{index}_{amount_minor}_{_MODES[capture]}_{_digest(idempotency_key)}"
        return GatewayResult(Outcome.created, txn_id, card_last4=TEST_TOKENS[payment_method][2])

    @staticmethod
    def _parse(txn_id: str) -> tuple[str, int, bool]:
        """(token, amount, manual capture) of an intent id."""
        try:
            _, index, amount, mode, _ = txn_id.split("_", 4)
            if mode not in _MODES.values():
                raise ValueError(mode)
            return _TOKENS[int(index)], int(amount), mode == "m"
        except (ValueError, IndexError) as exc:
            raise GatewayError(f"not a test gateway intent: {txn_id}") from exc

    def confirm(self, txn_id: str, *, idempotency_key: str) -> GatewayResult:
        token = self._parse(txn_id)[0]
        outcome, reason, last4 = TEST_TOKENS[token]
        if outcome is Outcome.requires_action:
            return GatewayResult(outcome, txn_id, card_last4=last4, next_action=THREE_D_SECURE)
        if outcome is Outcome.failed:
            return GatewayResult(outcome, txn_id, failure_reason=reason, card_last4=last4)
        return self.authenticated(txn_id, approved=True)

    def authenticated(self, txn_id: str, *, approved: bool) -> GatewayResult:
        """The outcome once the buyer passed (or failed) the authentication step."""
        _, amount, manual = self._parse(txn_id)
        if not approved:
            return GatewayResult(Outcome.failed, txn_id, failure_reason="authentication_failed")
        if manual:
            return GatewayResult(Outcome.authorized, txn_id, authorized_minor=amount)
        return GatewayResult(Outcome.succeeded, txn_id, captured_minor=amount)

    def capture(
        self, txn_id: str, amount_minor: int, currency: str, *, idempotency_key: str
    ) -> GatewayResult:
        _, amount, manual = self._parse(txn_id)
        if not manual or not 0 < amount_minor <= amount:
            raise GatewayError(f"cannot capture {amount_minor} of intent {txn_id}")
        return GatewayResult(Outcome.succeeded, txn_id, captured_minor=amount_minor)

    def cancel(self, txn_id: str, *, idempotency_key: str) -> GatewayResult:
        self._parse(txn_id)
        return GatewayResult(Outcome.cancelled, txn_id)

    def refund(
        self, txn_id: str, amount_minor: int, currency: str, *, idempotency_key: str
    ) -> GatewayResult:
        self._parse(txn_id)
        return GatewayResult(Outcome.refunded, txn_id, refund_id="tr_" + _digest(idempotency_key))
