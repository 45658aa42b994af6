"""The audit log: one row per admin or service action (API request or CLI command).

Append-only: the code has no update or delete path, and the migration adds triggers that
reject UPDATE and DELETE on both SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base, UTCDateTime, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[str] = mapped_column(String(128))
    actor_kind: Mapped[str] = mapped_column(String(16))
    """admin, service, or cli (an operator at the command line)."""
    action: Mapped[str] = mapped_column(String(300))
    """``METHOD /route/{template}`` for API requests, ``cli:<command>`` for the CLI."""
    target_ids: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[int] = mapped_column(Integer)
    """The HTTP status, or the CLI command's exit code."""
    client_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)

    __table_args__ = (
        Index("ix_audit_log_actor", "actor_id", "id"),
        Index("ix_audit_log_action", "action", "id"),
        Index("ix_audit_log_at", "at"),
    )
