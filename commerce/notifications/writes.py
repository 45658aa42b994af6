"""Write transactions of the notification workers.

On SQLite a deferred transaction that reads and then writes fails at once with "database is
locked" (a stale snapshot) when another connection committed in between; busy_timeout does
not help. ``write_scope`` takes the write lock up front (``BEGIN IMMEDIATE``), so writers
queue on busy_timeout instead. PostgreSQL transactions start as usual (row locks, SKIP
LOCKED where it matters).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from commerce.db import session_scope


@contextmanager
def write_scope() -> Iterator[Session]:
    """A session that commits on success; on SQLite its transaction holds the write lock."""
    with session_scope() as session:
        connection = session.connection()
        if connection.dialect.name == "sqlite" and not _in_transaction(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        yield session


def _in_transaction(connection: Connection) -> bool:
    return bool(getattr(connection.connection.dbapi_connection, "in_transaction", False))
