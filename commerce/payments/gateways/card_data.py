"""Card data never enters Shopflow: find card numbers (13-19 digits, Luhn-valid, spaces or
dashes allowed) in the fields a client writes as text, and CVC fields anywhere in a request.

Id fields (``id``, ``*_id``, ``*_ids``) are not scanned for numbers: they carry ids the server
issued (``ord_<32 hex>``), whose digit runs pass Luhn one time in ten, and are held to the
id alphabet by their models (``commerce.common.EntityId``)."""

from __future__ import annotations

import re
from typing import Any

_DIGIT_RUN = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_CVC_KEYS = re.compile(r"^(cvc|cvv|cvc2|cvv2|cid|csc|security_?code|card_?verification.*)$", re.I)
_PAN_KEYS = re.compile(r"^(card_?number|card_?no|pan)$", re.I)
_ID_KEYS = re.compile(r"^(.*_)?ids?$", re.I)


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _has_pan(text: str) -> bool:
    for match in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


def find_card_data(value: Any, path: str = "") -> str | None:
    """The path of the first field holding a card number or CVC, else None."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if _CVC_KEYS.match(str(key)) or (_PAN_KEYS.match(str(key)) and item):
                return here
            if _ID_KEYS.match(str(key)):
                continue
            found = find_card_data(item, here)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = find_card_data(item, f"{path}[{i}]")
            if found:
                return found
    elif isinstance(value, str | int) and not isinstance(value, bool) and _has_pan(str(value)):
        return path or "body"
    return None
