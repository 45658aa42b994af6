"""Field-level sealing of PII: AES-256-GCM under the owner's data key, the user id as
associated data. Callers keep plaintext in memory; only sealed tokens reach the database.

A sealed string is ``pii1.<base64url(nonce + ciphertext)>``; a sealed JSON value is stored
in a JSON column as ``{"pii1": token}``. Opening a value whose key was shredded gives None.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from commerce.privacy.keyring import NONCE_BYTES, KeyShredded, decode_key, get_keyring
from shopflow.config import get_settings

PREFIX = "pii1."
JSON_FIELD = "pii1"


def seal(session: Session | None, user_id: str, value: str | None) -> str | None:
    """``value`` sealed under the user's DEK (created in ``session`` if the user has none)."""
    if value is None:
        return None
    dek = get_keyring().dek(session, user_id, create=True)
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + AESGCM(dek).encrypt(nonce, value.encode(), user_id.encode())
    return PREFIX + base64.urlsafe_b64encode(sealed).decode()


def unseal(session: Session | None, user_id: str, token: str | None) -> str | None:
    """The plaintext of a sealed value; None for None or when the user was erased. A value
    that is not sealed (written before encryption) is returned as it is."""
    if token is None or not token.startswith(PREFIX):
        return token
    try:
        dek = get_keyring().dek(session, user_id)
    except (LookupError, KeyShredded):  # no key, or shredded: the data is gone
        return None
    raw = base64.urlsafe_b64decode(token[len(PREFIX) :])
    try:
        plain = AESGCM(dek).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], user_id.encode())
    except InvalidTag:
        return None
    return plain.decode()


def seal_json(session: Session | None, user_id: str, value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    token = seal(session, user_id, json.dumps(value, sort_keys=True))
    assert token is not None
    return {JSON_FIELD: token}


def unseal_json(session: Session | None, user_id: str, stored: Any) -> Any:
    if isinstance(stored, dict) and set(stored) == {JSON_FIELD}:
        plain = unseal(session, user_id, stored[JSON_FIELD])
        return None if plain is None else json.loads(plain)
    return stored


def is_erased(session: Session | None, user_id: str) -> bool:
    try:
        get_keyring().dek(session, user_id)
    except KeyShredded:
        return True
    except LookupError:
        return False
    return False


@lru_cache(maxsize=4)
def _hash_key(value: str) -> bytes:
    return decode_key(value, "pii_hash_key")


def email_hash(email: str | None) -> str | None:
    """HMAC-SHA256 of the normalised email: an index that finds a user by email without
    the email being stored in the clear."""
    if email is None:
        return None
    key = _hash_key(get_settings().pii_hash_key)
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()
