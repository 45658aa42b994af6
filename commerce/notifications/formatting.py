"""Display formatting for templates: money from integer minor units and an ISO currency."""

from __future__ import annotations

#: Minor-unit exponent per currency (ISO 4217); 2 when not listed.
EXPONENTS = {"JPY": 0, "KRW": 0, "CLP": 0, "BHD": 3, "KWD": 3}
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "BRL": "R$", "CAD": "CA$",
           "AUD": "A$"}  # fmt: skip


def money(minor: int, currency: str) -> str:
    """``money(12500, "USD") == "$125.00"``; ``money(1250, "JPY") == "¥1,250"``;
    currencies without a symbol are prefixed by their code (``"CHF 12.50"``)."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"money() needs integer minor units, got {minor!r}")
    code = str(currency).upper()
    exponent = EXPONENTS.get(code, 2)
    sign = "-" if minor < 0 else ""
    units, cents = divmod(abs(minor), 10**exponent)
    amount = f"{units:,}" + (f".{cents:0{exponent}d}" if exponent else "")
    symbol = SYMBOLS.get(code)
    return f"{sign}{symbol}{amount}" if symbol else f"{sign}{code} {amount}"
