"""Cache versions in the database (``cache_versions``): a counter per cached thing, bumped
in the same transaction as every change to it. A cache entry is stored with the version it
was read under and served only while that is still the current one, so neither a lost
invalidation nor a Redis restored from an older snapshot can serve data older than the
database. Reading the current versions is one primary-key query; ``read_async`` runs it
on the event loop's own SQLite connection (microseconds, less than a hop to the thread pool),
and in the thread pool on PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path

from sqlalchemy import BindParameter, Connection, Engine, Select, bindparam, select
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from commerce.db import beside_engine, get_engine, read_connection, upsert
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
    found = {name: version for name, version in db.execute(_query(), {"p_names": list(names)})}
    return [found.get(name, 0) for name in names]


def read(names: Sequence[str]) -> list[int]:
    """``current`` on a plain connection (no ORM session: a cache hit's only database cost)."""
    with read_connection() as connection:
        return current(connection, names)


async def read_async(names: Sequence[str]) -> list[int]:
    """``read`` from the event loop: inline on SQLite (a WAL reader is never blocked by
    writers; if the file is busy anyway, e.g. in recovery, it waits in the thread pool), in
    the thread pool elsewhere."""
    engine = get_engine()
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        try:
            return _read_sqlite(engine, names)
        except sqlite3.OperationalError:
            pass
    return await run_in_threadpool(read, names)


@cache
def _query() -> Select[str, int]:
    """The versions of the names in ``p_names`` (built once: every cached read runs it)."""
    names: BindParameter[str] = bindparam("p_names", expanding=True)
    return select(CacheVersion.name, CacheVersion.version).where(CacheVersion.name.in_(names))


@lru_cache(maxsize=8)
def _sqlite_text(count: int) -> str:
    """``_query`` for ``count`` names as SQLite text with positional marks (compiled once)."""
    expanded = _query().params(p_names=[""] * count)
    sqlite = sqlite_dialect.dialect()
    return str(expanded.compile(dialect=sqlite, compile_kwargs={"render_postcompile": True}))


_SQLITE_BUSY_S = 0.02
"""How long an inline SQLite read waits for a lock before it moves to the thread pool."""


def _read_sqlite(engine: Engine, names: Sequence[str]) -> list[int]:
    """``current`` on this thread's own autocommit connection to the engine's SQLite file
    (each query sees the latest commit)."""
    local = beside_engine("cache_versions.sqlite_readers", threading.local)
    connection: sqlite3.Connection | None = getattr(local, "connection", None)
    if connection is None:  # mode=rw: a missing file is an error here, never created
        uri = Path(str(engine.url.database)).resolve().as_uri() + "?mode=rw"
        connection = sqlite3.connect(uri, timeout=_SQLITE_BUSY_S, isolation_level=None, uri=True)
        local.connection = connection
    found = dict(connection.execute(_sqlite_text(len(names)), list(names)).fetchall())
    return [found.get(name, 0) for name in names]
