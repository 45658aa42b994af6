"""Every ISO 4217 currency's exponent (CLDR via babel, one module) in amounts, PayPal bodies
and templates: a test per exponent class; more decimals than a currency has is a 422."""

from __future__ import annotations

import json

import pytest

from commerce.notifications.formatting import money
from commerce.payments.gateways.base import from_decimal_string, to_decimal_string
from shopflow import currency
from shopflow.events import SUPPORTED_CURRENCIES
from tests.serving.fakes.commerce import auth, payment_body, place_order, put_product
from tests.serving.test_payments_gateways import paypal  # noqa: F401  (fixture)

#: exponent class -> (currency, decimal amount, minor units, formatted)
CLASSES = {
    0: ("JPY", "1250", 1250, "¥1,250"),
    2: ("EUR", "12.50", 1250, "€12.50"),
    3: ("KWD", "1.250", 1250, "KWD 1.250"),
}


def test_every_active_currency_has_an_exponent() -> None:
    assert SUPPORTED_CURRENCIES is currency.CODES and len(currency.CODES) > 150
    exponents = {code: currency.exponent(code) for code in currency.CODES}
    assert {"USD", "EUR", "JPY", "KWD", "BHD", "TND", "CLP", "KRW"} <= set(exponents)
    assert set(exponents.values()) == {0, 2, 3}
    with pytest.raises(ValueError, match="unknown currency"):
        currency.exponent("XYZ")


@pytest.mark.parametrize("exponent", sorted(CLASSES))
def test_conversions_per_exponent_class(exponent: int) -> None:
    code, decimal, minor, shown = CLASSES[exponent]
    assert currency.exponent(code) == exponent
    assert to_decimal_string(minor, code) == decimal
    assert from_decimal_string(decimal, code) == minor
    assert money(minor, code) == shown
    too_precise = decimal + ("1" if "." in decimal else ".5")
    with pytest.raises(currency.AmountPrecisionError):
        currency.to_minor(too_precise, code)


@pytest.mark.parametrize("exponent", sorted(CLASSES))
def test_payment_amounts_per_exponent_class(api_client, exponent: int) -> None:
    code, decimal, minor, _ = CLASSES[exponent]
    put_product(api_client, "p1", price=minor, stock=5, currency=code)
    order = place_order(api_client, "alice", [("p1", 1)])
    body = {**payment_body(order), "amount_minor": None, "amount": decimal}
    bad = {**body, "amount": decimal + ("1" if "." in decimal else ".5")}
    refused = api_client.post("/api/payments", json=bad, headers=auth("alice"))
    assert refused.status_code == 422 and "decimal" in refused.json()["detail"], refused.text
    assert (
        api_client.get(f"/api/payments/order/{order['id']}", headers=auth("alice")).json()["total"]
        == 0
    )
    both = api_client.post(
        "/api/payments", json={**body, "amount_minor": minor}, headers=auth("alice")
    )
    assert both.status_code == 422
    created = api_client.post("/api/payments", json=body, headers=auth("alice"))
    assert created.status_code == 201, created.text
    assert (created.json()["amount_minor"], created.json()["currency"]) == (minor, code)


def test_paypal_gets_three_decimals_for_kwd(paypal, api_client) -> None:  # noqa: F811
    put_product(api_client, "p1", price=12345, stock=5, currency="KWD")
    order = place_order(api_client, "alice", [("p1", 1)])
    body = {**payment_body(order, method="PAYPAL"), "payment_method": None}
    pay = api_client.post("/api/payments", json=body, headers=auth("alice")).json()
    done = api_client.post(f"/api/payments/{pay['id']}/confirm", headers=auth("alice")).json()
    assert done["status"] == "COMPLETED" and done["captured_minor"] == 12345
    created = next(r for r in paypal.requests if r["path"] == "/v2/checkout/orders")
    assert json.loads(created["body"])["purchase_units"][0]["amount"] == {
        "currency_code": "KWD",
        "value": "12.345",
    }
