"""SDK client keys: ``sdk-<environment>-<secret>``, one or more per environment. A key lets
the GrowthBook SDKs fetch the feature payload; only its keyed hash is stored."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from sqlalchemy.exc import SQLAlchemyError

from commerce.db import session_scope, utcnow
from commerce.db.models.client_keys import ClientKey
from commerce.errors import Invalid, Unavailable
from shopflow.config import Settings, get_settings

ENVIRONMENT = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


def _digest(key: str, settings: Settings) -> str:
    return hmac.new(settings.api_key_pepper.encode(), key.encode(), hashlib.sha256).hexdigest()


def create(environment: str, settings: Settings | None = None) -> str:
    """Store a new key for ``environment`` and return it (the only time it is shown)."""
    settings = settings or get_settings()
    if not ENVIRONMENT.match(environment):
        raise Invalid(f"environment {environment!r}: lowercase letters, digits and '-', "
                      "starting with a letter, at most 32")  # fmt: skip
    key = f"sdk-{environment}-{secrets.token_urlsafe(24)}"
    with session_scope() as session:
        session.add(ClientKey(key_hash=_digest(key, settings), environment=environment,
                              created_at=utcnow()))  # fmt: skip
    return key


def environment_of(key: str, settings: Settings | None = None) -> str | None:
    """The environment of an active key; None for an unknown or revoked one."""
    settings = settings or get_settings()
    if not key.startswith("sdk-") or len(key) > 128:
        return None
    try:
        with session_scope() as session:
            row = session.get(ClientKey, _digest(key, settings))
            return row.environment if row is not None and row.revoked_at is None else None
    except SQLAlchemyError as exc:
        raise Unavailable("client keys cannot be checked now; retry", retry_after=1) from exc
