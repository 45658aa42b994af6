"""Cache versions in the database (``cache_versions``): a counter per cached thing, bumped
in the same transaction as every change to it. A cache entry is stored with the version it
was read under and served only while that is still the current one, so neither a lost
invalidation nor a Redis restored from an older snapshot can serve data older than the
database. Reading the current versions is one primary-key query."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from commerce.db import get_engine, upsert
from commerce.db.models.core import CacheVersion


def bump(session: Session, name: str) -> None:
    """Add one to ``name``'s version (creating it) in the session's transaction; safe inside
    a flush (a Core statement on the session's connection)."""
    stmt = upsert(session, CacheVersion).values(name=name, version=1)
    session.connection().execute(
        stmt.on_conflict_do_update(
            index_elements=["name"], set_={"version": CacheVersion.__table__.c.version + 1}
        )
    )


def current(db: Session | Connection, names: Sequence[str]) -> list[int]:
    """The versions of ``names``, in order (0 for one never bumped)."""
    query = select(CacheVersion.name, CacheVersion.version).where(CacheVersion.name.in_(names))
    found = {name: version for name, version in db.execute(query)}
    return [found.get(name, 0) for name in names]


def read(names: Sequence[str]) -> list[int]:
    """``current`` on a plain connection (no ORM session: a cache hit's only database cost)."""
    with get_engine().connect() as connection:
        return current(connection, names)
