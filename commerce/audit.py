"""The audit log of admin and service actions: ``record`` appends one entry, ``query`` pages
through them newest first. There is deliberately no update or delete here (and the database
rejects both). The API writes an entry per admin or service request
(``serving.security.audit``); CLI commands that act as an operator call ``record`` with
``actor_kind="cli"`` and ``action="cli:<command>"``, most simply through ``record_cli``."""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy import insert, select

from commerce.db import session_scope, utcnow
from commerce.db.models.audit import AuditEntry
from commerce.db.writer import sqlite_writer
from commerce.errors import Invalid

ACTOR_KINDS = ("admin", "service", "cli")
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[dict[str, Any]]
    next_cursor: str | None
    """Pass back as ``cursor`` for the next (older) page; None on the last page."""


class Fields(TypedDict):
    """One entry: who, what, the outcome (HTTP status or CLI exit code) and from where."""

    actor_id: str
    actor_kind: str
    action: str
    status: int
    target_ids: NotRequired[dict[str, Any] | None]
    client_ip: NotRequired[str | None]
    user_agent: NotRequired[str | None]


def record(*, url: str | None = None, **fields: Unpack[Fields]) -> int:
    """Append one entry; returns its id."""
    entry = _entry(fields)
    with sqlite_writer(url), session_scope(url) as session:
        session.add(entry)
        session.flush()
        return entry.id


def record_many(entries: list[Fields], url: str | None = None) -> None:
    """Append several entries in one transaction (one multi-row INSERT, no ids read back):
    all of them or, on an error, none."""
    rows = [_row(fields) for fields in entries]
    with sqlite_writer(url), session_scope(url) as session:  # SQLite: in turn with the rest
        session.connection().execute(insert(AuditEntry.__table__), rows)


def _entry(fields: Fields) -> AuditEntry:
    return AuditEntry(**_row(fields))


def _row(fields: Fields) -> dict[str, Any]:
    kind, user_agent = fields["actor_kind"], fields.get("user_agent")
    if kind not in ACTOR_KINDS:
        raise Invalid(f"actor_kind must be one of {ACTOR_KINDS}, not {kind!r}")
    return {
        "at": utcnow(),
        "actor_id": fields["actor_id"][:128],
        "actor_kind": kind,
        "action": fields["action"][:300],
        "status": fields["status"],
        "target_ids": dict(fields.get("target_ids") or {}),
        "client_ip": fields.get("client_ip"),
        "user_agent": user_agent[:512] if user_agent else None,
    }


def record_cli(
    command: str, exit_code: int, target_ids: dict[str, Any] | None = None, url: str | None = None
) -> int:
    """Append the entry of an operator's CLI command (``"keys create"``): the actor is the
    operating-system user, "from where" the host name."""
    return record(
        actor_id=getpass.getuser(),
        actor_kind="cli",
        action=f"cli:{command}",
        status=exit_code,
        target_ids=target_ids,
        client_ip=socket.gethostname()[:64],
        url=url,
    )


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit():
        raise Invalid(f"cursor {cursor!r} is not one this endpoint gave out")
    return int(cursor)


def query(
    *,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
    url: str | None = None,
) -> AuditPage:
    """Entries newest first, filtered by actor id, action (exact, or a prefix ending in
    ``*``), and ``since <= at < until``."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE}")
    if since and until and since >= until:
        raise Invalid("since must be before until")
    stmt = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
    before = _cursor(cursor)
    if before is not None:
        stmt = stmt.where(AuditEntry.id < before)
    if actor:
        stmt = stmt.where(AuditEntry.actor_id == actor)
    if action and action.endswith("*"):
        stmt = stmt.where(AuditEntry.action.startswith(action[:-1], autoescape=True))
    elif action:
        stmt = stmt.where(AuditEntry.action == action)
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    if until:
        stmt = stmt.where(AuditEntry.at < until)
    with session_scope(url) as session:
        rows = list(session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(
        items=[_as_dict(row) for row in rows],
        next_cursor=str(rows[-1].id) if more else None,
    )


def _as_dict(row: AuditEntry) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at.isoformat(),
        "actor_id": row.actor_id,
        "actor_kind": row.actor_kind,
        "action": row.action,
        "target_ids": row.target_ids,
        "status": row.status,
        "client_ip": row.client_ip,
        "user_agent": row.user_agent,
    }
