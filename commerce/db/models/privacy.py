"""Privacy tables: each user's wrapped data key (PII is sealed under it) and the erasure
requests with the steps they have done."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base, UTCDateTime, utcnow


class UserKey(Base):
    """A user's data key (DEK), wrapped by the master key. Erasure sets ``wrapped_dek`` to
    None (crypto-shredding): every value sealed under it, in any copy, becomes unreadable.
    ``email_hash`` (HMAC-SHA256 of the normalised email) finds a user by email."""

    __tablename__ = "user_keys"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    wrapped_dek: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    wrapper: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ErasureRequest(Base):
    """One erasure of one user: ``steps`` lists the steps done, so a re-run after a crash
    finishes the rest. Status: running -> pipeline_pending (landing and warehouse left to the
    ``privacy_erasure`` Dagster job) -> done."""

    __tablename__ = "erasure_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))
    requested_by: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(24))
    steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    summary: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        Index("ix_erasure_requests_user", "user_id"),
        Index("ix_erasure_requests_status", "status"),
    )
