"""Per-user data keys (DEKs) wrapped by a master key.

``KeyWrapper`` is the one interface a KMS would implement; ``LocalMasterKey`` wraps with
AES-256-GCM under ``Settings.master_key``. Unwrapped DEKs are cached in process (bounded,
short TTL) so sealing and opening on the hot path costs no key lookup.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from typing import Protocol

from cachetools import TTLCache
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce.db import rowcount, session_scope, upsert, utcnow
from commerce.db.models.privacy import UserKey
from commerce.errors import Conflict
from shopflow.config import Settings, get_settings

NONCE_BYTES = 12


class KeyShredded(Conflict):
    """The user's data key was destroyed by an erasure: their sealed data is gone, and the
    id takes no new personal data."""


class KeyWrapper(Protocol):
    name: str

    def wrap(self, dek: bytes, user_id: str) -> bytes: ...

    def unwrap(self, wrapped: bytes, user_id: str) -> bytes: ...


def decode_key(value: str, setting: str) -> bytes:
    """A 32-byte key from its base64 setting, or a clear error naming the setting."""
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{setting} is not valid base64") from exc
    if len(key) != 32:
        raise ValueError(f"{setting} must be 32 bytes (base64), got {len(key)}")
    return key


class LocalMasterKey:
    """Wraps DEKs with AES-256-GCM under a master key held in settings; the user id is the
    associated data, so a wrapped key moved to another user does not unwrap."""

    name = "local-v1"

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def wrap(self, dek: bytes, user_id: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, dek, user_id.encode())

    def unwrap(self, wrapped: bytes, user_id: str) -> bytes:
        return self._aead.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], user_id.encode())


class Keyring:
    """Finds, creates and destroys users' DEKs; keeps unwrapped ones in a bounded TTL cache."""

    def __init__(self, wrapper: KeyWrapper, cache_size: int = 4096, ttl_s: float = 60.0):
        self.wrapper = wrapper
        self._cache: TTLCache[str, bytes] = TTLCache(max(cache_size, 1), max(ttl_s, 1e-3))
        self._lock = threading.Lock()

    def _cached(self, user_id: str) -> bytes | None:
        with self._lock:
            return self._cache.get(user_id)

    def _remember(self, user_id: str, dek: bytes) -> bytes:
        with self._lock:
            self._cache[user_id] = dek
        return dek

    def forget(self, user_id: str) -> None:
        with self._lock:
            self._cache.pop(user_id, None)

    def dek(self, session: Session | None, user_id: str, create: bool = False) -> bytes:
        """The user's DEK; ``create`` makes one (in ``session``'s transaction) if none
        exists. Raises KeyShredded after an erasure, LookupError when absent."""
        found = self._cached(user_id)
        if found is not None:
            return found
        if session is None:
            with session_scope() as own:
                return self._load(own, user_id, create)
        return self._load(session, user_id, create)

    def _load(self, session: Session, user_id: str, create: bool) -> bytes:
        row = session.execute(
            select(UserKey.wrapped_dek).where(UserKey.user_id == user_id)
        ).one_or_none()
        if row is None and create:
            return self._remember(user_id, self._create(session, user_id))
        if row is None:
            raise LookupError(f"no data key for user {user_id}")
        if row.wrapped_dek is None:
            raise KeyShredded(f"user {user_id} was erased", user_id=user_id)
        return self._remember(user_id, self.wrapper.unwrap(row.wrapped_dek, user_id))

    def _create(self, session: Session, user_id: str) -> bytes:
        """A new DEK stored wrapped; when a concurrent transaction stored one first (or the
        user was erased meanwhile), that one wins."""
        dek = AESGCM.generate_key(bit_length=256)
        stored = session.execute(
            upsert(session, UserKey)
            .values(user_id=user_id, wrapped_dek=self.wrapper.wrap(dek, user_id),
                    wrapper=self.wrapper.name, created_at=utcnow())
            .on_conflict_do_nothing()
        )  # fmt: skip
        if rowcount(stored) == 1:
            return dek
        return self._load(session, user_id, create=False)

    def shred(self, session: Session, user_id: str) -> bool:
        """Destroy the user's DEK (idempotent). True if a key was destroyed now."""
        self.forget(user_id)
        row = session.get(UserKey, user_id)
        if row is None:
            session.add(UserKey(user_id=user_id, wrapped_dek=None, wrapper=self.wrapper.name,
                                created_at=utcnow(), shredded_at=utcnow()))  # fmt: skip
            return False
        destroyed = row.wrapped_dek is not None
        row.wrapped_dek = None
        row.shredded_at = row.shredded_at or utcnow()
        return destroyed


def wrapper_from(settings: Settings) -> KeyWrapper:
    return LocalMasterKey(decode_key(settings.master_key, "master_key"))


_keyring: Keyring | None = None
_keyring_lock = threading.Lock()


def get_keyring() -> Keyring:
    """The process keyring, built from settings on first use."""
    global _keyring
    with _keyring_lock:
        if _keyring is None:
            settings = get_settings()
            _keyring = Keyring(
                wrapper_from(settings), settings.pii_key_cache_size, settings.pii_key_cache_ttl_s
            )
        return _keyring


def reset_keyring() -> None:
    """Forget the process keyring (tests that change settings call this)."""
    global _keyring
    with _keyring_lock:
        _keyring = None
