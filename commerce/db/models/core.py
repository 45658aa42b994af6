"""Cross-domain tables: the transactional outbox and stored idempotent responses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base, UTCDateTime, utcnow


class OutboxEvent(Base):
    """A domain event written in the same transaction as the state change that caused it.
    The relay publishes unpublished rows in id order and stamps ``published_at``."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    aggregate_id: Mapped[str] = mapped_column(String(128))
    envelope_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_outbox_unpublished", "published_at", "id"),)


class IdempotencyRecord(Base):
    """The first response to a POST with an ``Idempotency-Key``, replayed to retries."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    scope: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    """While in progress: the owner's lease, renewed as it works; a retry after it lapses
    takes the key over (``commerce.idempotency``)."""

    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_scope_key"),)


class CacheVersion(Base):
    """A counter bumped in the same transaction as every change to what it names (e.g. one
    product's reviews): a cache entry stored under a version is served only while it is
    still the current one, so no cache outage can serve data older than the database."""

    __tablename__ = "cache_versions"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
