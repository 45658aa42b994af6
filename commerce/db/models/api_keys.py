"""API keys: a secret (server to server) or publishable (browser) key, stored as a keyed hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base, UTCDateTime, utcnow


class ApiKey(Base):
    """``id`` is the key's non-secret lookup part (``sk_live_<id>_<secret>``); ``secret_hash`` the
    HMAC-SHA256 of the whole key under ``Settings.api_key_pepper``. Revoked keys stay listed."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
