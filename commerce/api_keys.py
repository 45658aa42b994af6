"""API keys like Stripe's: ``sk_<mode>_<id>_<secret>`` (secret: server to server, acts as the
``service`` role) and ``pk_<mode>_<id>_<secret>`` (publishable: safe in a browser, anonymous
visitors' events and recommendations only). ``mode`` is ``live`` in production, ``test``
otherwise; a test key is refused in production.

The database keeps the short non-secret ``id`` for lookup and an HMAC-SHA256 of the whole key
under ``Settings.api_key_pepper`` (compared in constant time); the key itself is shown once.
``KeyCache`` keeps lookups in process for ``Settings.api_key_cache_s`` seconds, so a revoked
key stops working everywhere within that time (at once in the process that revoked it)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from commerce.auth import INVALID, Principal, Role
from commerce.db import session_scope, utcnow
from commerce.db.models.api_keys import ApiKey
from commerce.errors import Invalid, NotFound, Unauthorized, Unavailable
from shopflow.config import Settings, get_settings

ID_HEX = 12
CACHE_MAX = 10_000


class KeyKind(StrEnum):
    secret = "secret"
    publishable = "publishable"


PREFIX = {KeyKind.secret: "sk", KeyKind.publishable: "pk"}
KIND_OF = {prefix: kind for kind, prefix in PREFIX.items()}
ROLE = {KeyKind.secret: Role.service, KeyKind.publishable: Role.publishable}


@dataclass(frozen=True)
class KeyInfo:
    """A stored key, without its secret."""

    id: str
    kind: KeyKind
    mode: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


def is_api_key(credential: str) -> bool:
    """Whether a bearer credential is an API key (decided by its prefix) rather than a JWT."""
    return credential[:3] in ("sk_", "pk_")


def _mode(settings: Settings) -> str:
    return "live" if settings.production else "test"


def _digest(key: str, settings: Settings) -> str:
    return hmac.new(settings.api_key_pepper.encode(), key.encode(), hashlib.sha256).hexdigest()


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(row.id, KeyKind(row.kind), row.mode, row.name, row.created_at, row.revoked_at)


def create(kind: KeyKind | str, name: str, settings: Settings | None = None) -> tuple[KeyInfo, str]:
    """Store a new key; returns its info and the key itself (the only time it is shown)."""
    settings = settings or get_settings()
    if kind not in KeyKind.__members__:
        raise Invalid(f"unknown key kind {kind!r}; use secret or publishable")
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid("a key needs a name of 1 to 100 characters")
    kind, mode, key_id = KeyKind(kind), _mode(settings), secrets.token_hex(ID_HEX // 2)
    key = f"{PREFIX[kind]}_{mode}_{key_id}_{secrets.token_urlsafe(32)}"
    row = ApiKey(id=key_id, kind=kind.value, mode=mode, name=name)
    row.secret_hash, row.created_at = _digest(key, settings), utcnow()
    with session_scope() as session:
        session.add(row)
    return _info(row), key


def list_keys() -> list[KeyInfo]:
    with session_scope() as session:
        rows = session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)).all()
        return [_info(row) for row in rows]


def revoke(key_id: str) -> KeyInfo:
    """Revoke a key for good (a second revoke keeps the first time)."""
    with session_scope() as session:
        row = session.get(ApiKey, key_id)
        if row is None:
            raise NotFound(f"no API key {key_id!r}")
        row.revoked_at = row.revoked_at or utcnow()
        info = _info(row)
    CACHE.forget(key_id)
    return info


@dataclass(frozen=True)
class _Stored:
    kind: KeyKind
    mode: str
    secret_hash: str


def parse(credential: str) -> tuple[KeyKind, str, str]:
    """The kind, mode and id a presented key claims; ``Unauthorized`` when it is malformed."""
    parts = credential.split("_", 3)
    if len(parts) != 4 or parts[0] not in KIND_OF or len(parts[2]) != ID_HEX:
        raise Unauthorized(INVALID)
    return KIND_OF[parts[0]], parts[1], parts[2]


def load(key_id: str) -> _Stored | None:
    """The active key with this id from the database (None: unknown or revoked)."""
    try:
        with session_scope() as session:
            row = session.get(ApiKey, key_id)
            if row is None or row.revoked_at is not None:
                return None
            return _Stored(KeyKind(row.kind), row.mode, row.secret_hash)
    except SQLAlchemyError as exc:
        raise Unavailable("API keys cannot be checked now; retry", retry_after=1) from exc


def principal_of(credential: str, stored: _Stored | None, settings: Settings) -> Principal:
    """The principal of a presented key checked against its stored row; one error for any
    mismatch (unknown, revoked, wrong secret, wrong kind or mode)."""
    kind, mode, key_id = parse(credential)
    digest = _digest(credential, settings)
    ok = stored is not None and hmac.compare_digest(digest, stored.secret_hash)
    if not ok or stored is None or stored.kind != kind or stored.mode != mode:
        raise Unauthorized(INVALID)
    if settings.production and mode != "live":
        raise Unauthorized(INVALID)
    return Principal(user_id=f"key:{key_id}", roles=frozenset({ROLE[kind]}))


class KeyCache:
    """Key rows by id for ``ttl`` seconds (misses too, so a flood of wrong keys costs one
    lookup per id and interval); bounded to CACHE_MAX ids."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[float, _Stored | None]] = {}

    def get(self, key_id: str) -> tuple[bool, _Stored | None]:
        hit = self._rows.get(key_id)
        if hit is None or hit[0] < time.monotonic():
            return False, None
        return True, hit[1]

    def put(self, key_id: str, stored: _Stored | None, ttl: float) -> None:
        if len(self._rows) >= CACHE_MAX:
            self._rows.clear()
        self._rows[key_id] = (time.monotonic() + ttl, stored)

    def forget(self, key_id: str | None = None) -> None:
        if key_id is None:
            self._rows.clear()
        else:
            self._rows.pop(key_id, None)


CACHE = KeyCache()
"""The process's key cache (the API's auth dependency and the fast lane share it)."""
