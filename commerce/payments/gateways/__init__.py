"""Payment gateways behind one interface (``base.Gateway``) and the choice among them."""

from __future__ import annotations

from functools import lru_cache

from commerce.payments.gateways.base import Gateway, GatewayError, GatewayResult, Outcome
from commerce.payments.gateways.paypal import PayPalGateway
from commerce.payments.gateways.stripe_gateway import StripeGateway
from commerce.payments.gateways.testing import TestGateway
from shopflow.config import Settings, get_settings
from shopflow.events import PaymentMethod

__all__ = [
    "Gateway",
    "GatewayError",
    "GatewayNotConfigured",
    "GatewayResult",
    "Outcome",
    "TestGateway",
    "gateway_for",
    "by_name",
]


class GatewayNotConfigured(GatewayError):
    """Production refuses to route a processor's payment to the test gateway."""

    def __init__(self, method: PaymentMethod, setting: str):
        self.setting = setting
        super().__init__(f"{method.value} payments need {setting} in production")


@lru_cache(maxsize=8)
def _stripe(api_key: str, api_base: str | None, timeout: float) -> StripeGateway:
    return StripeGateway(api_key, api_base, timeout)


@lru_cache(maxsize=8)
def _paypal(base: str, client_id: str, secret: str, timeout: float) -> PayPalGateway:
    return PayPalGateway(base, client_id, secret, timeout)


_TEST = TestGateway()


def paypal(settings: Settings | None = None) -> PayPalGateway | None:
    s = settings or get_settings()
    if not (s.paypal_base_url and s.paypal_client_id and s.paypal_client_secret):
        return None
    return _paypal(
        s.paypal_base_url, s.paypal_client_id, s.paypal_client_secret, s.gateway_timeout_s
    )


def by_name(name: str, settings: Settings | None = None) -> Gateway:
    """The gateway a stored payment was made with."""
    s = settings or get_settings()
    if name == "stripe":
        if not s.stripe_api_key:
            raise GatewayError("payment was made with Stripe but STRIPE_API_KEY is not set")
        return _stripe(s.stripe_api_key, s.stripe_api_base, s.gateway_timeout_s)
    if name == "paypal":
        gateway = paypal(s)
        if gateway is None:
            raise GatewayError("payment was made with PayPal but PAYPAL_* is not configured")
        return gateway
    return _TEST


def gateway_for(method: PaymentMethod, settings: Settings | None = None) -> Gateway:
    """PayPal payments go to PayPal when configured; card and Stripe payments to Stripe when
    ``STRIPE_API_KEY`` is set; everything else (and every unconfigured case) to the test
    gateway."""
    s = settings or get_settings()
    if method is PaymentMethod.PAYPAL:
        found = paypal(s)
        if found is None and s.production:
            raise GatewayNotConfigured(
                method, "PAYPAL_BASE_URL, PAYPAL_CLIENT_ID, PAYPAL_CLIENT_SECRET"
            )
        return found or _TEST
    if method is not PaymentMethod.BANK_TRANSFER and s.stripe_api_key:
        return by_name("stripe", s)
    if method is PaymentMethod.STRIPE and s.production:
        raise GatewayNotConfigured(method, "STRIPE_API_KEY")
    return _TEST
