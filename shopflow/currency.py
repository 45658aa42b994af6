"""The one home of currencies: which codes the shop accepts and each one's minor-unit
exponent, from the Unicode CLDR data that ``babel`` maintains (ISO 4217 codes in legal tender
somewhere today). Every conversion between minor units and decimal amounts goes through here.

CLDR follows practice where it departs from the ISO table (e.g. ISK, IQD and YER are counted
in whole units, as banks and card schemes do), which is what processors charge in."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import cache

from babel import numbers
from babel.core import get_global


@cache
def _codes() -> frozenset[str]:
    territories = get_global("territory_currencies")
    return frozenset(c for t in territories for c in numbers.get_territory_currencies(t))


#: Every ISO 4217 currency in legal tender today.
CODES: frozenset[str] = _codes()


class AmountPrecisionError(ValueError):
    """An amount has more decimals than its currency allows."""


def exponent(currency: str) -> int:
    """Minor-unit digits: ``exponent('USD') == 2``, ``'JPY'`` 0, ``'KWD'`` 3."""
    code = currency.upper()
    if code not in CODES:
        raise ValueError(f"unknown currency {currency!r}")
    return int(numbers.get_currency_precision(code))


def to_decimal_string(amount_minor: int, currency: str) -> str:
    """``1234, 'USD'`` -> ``'12.34'``; ``1234, 'JPY'`` -> ``'1234'``; ``1234, 'KWD'`` ->
    ``'1.234'`` (the format PayPal and most APIs take)."""
    exp = exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    major, minor = divmod(abs(amount_minor), 10**exp)
    return f"{sign}{major}.{minor:0{exp}d}" if exp else f"{sign}{major}"


def to_minor(value: str | Decimal, currency: str) -> int:
    """``'12.34', 'USD'`` -> 1234. More decimals than the currency has (``'12.345' USD``,
    ``'5.5' JPY``) raise ``AmountPrecisionError``; nothing is rounded away."""
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not a decimal amount: {value!r}")
    exp = exponent(currency)
    scaled = amount.scaleb(exp)
    if scaled != scaled.to_integral_value():
        raise AmountPrecisionError(
            f"{value} {currency.upper()} has more than {exp} decimal place(s)"
            if exp
            else f"{value} {currency.upper()} must be a whole amount (no decimals)"
        )
    return int(scaled)
