"""SDK client keys for the feature payload (``GET /api/features/{client_key}``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base, UTCDateTime, utcnow


class ClientKey(Base):
    """``key_hash`` is the HMAC-SHA256 of the whole key (``sdk-<env>-<secret>``) under
    ``Settings.api_key_pepper``; the key itself is shown once, at creation."""

    __tablename__ = "feature_client_keys"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    environment: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
