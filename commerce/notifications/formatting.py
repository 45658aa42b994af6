"""Display formatting for templates: money from integer minor units and an ISO currency."""

from __future__ import annotations

from shopflow.currency import CODES, exponent

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "BRL": "R$", "CAD": "CA$",
           "AUD": "A$"}  # fmt: skip


def money(minor: int, currency: str) -> str:
    """``money(12500, "USD") == "$125.00"``; ``money(1250, "JPY") == "¥1,250"``;
    currencies without a symbol are prefixed by their code (``"CHF 12.50"``)."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"money() needs integer minor units, got {minor!r}")
    code = str(currency).upper()
    exp = exponent(code) if code in CODES else 2
    sign = "-" if minor < 0 else ""
    units, cents = divmod(abs(minor), 10**exp)
    amount = f"{units:,}" + (f".{cents:0{exp}d}" if exp else "")
    symbol = SYMBOLS.get(code)
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{code} {amount}"
