"""OLTP persistence: SQLAlchemy 2 engine and sessions. SQLite (WAL) by default, PostgreSQL via
``DATABASE_URL``. Tables are declared on ``Base`` in ``commerce/db/models/``; the schema is
created by Alembic migrations (``commerce/db/migrate.py``)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

import sqlalchemy
from sqlalchemy import CursorResult, DateTime, Engine, Result, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from shopflow.config import Settings, get_settings


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; use UTC-aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    if TYPE_CHECKING:
        # every model maps one Table (DeclarativeBase types it as the wider FromClause)
        __table__: ClassVar[Table]


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched: ``Session.execute`` types its result as ``Result``,
    which lacks ``rowcount``; a DML statement returns a ``CursorResult``."""
    return cast(CursorResult[Any], result).rowcount


def upsert(session: Session, model: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """INSERT with ON CONFLICT clauses for the session's dialect (PostgreSQL or SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def utcnow() -> datetime:
    return datetime.now(UTC)


T = TypeVar("T")

_engines: dict[str, Engine] = {}
_sessions: dict[str, sessionmaker[Session]] = {}
_beside: dict[tuple[str, str], Any] = {}
_default: tuple[Settings, str, str] | None = None


def default_url() -> str:
    """``Settings.sqlalchemy_url`` of the current settings, worked out once per settings
    object (and working directory, which a relative home depends on): every session asks."""
    global _default
    settings, cwd, known = get_settings(), os.getcwd(), _default
    if known is not None and known[0] is settings and known[1] == cwd:
        return known[2]
    url = settings.sqlalchemy_url
    _default = (settings, cwd, url)
    return url


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL (default: Settings.sqlalchemy_url)."""
    url = url or default_url()
    if url not in _engines:
        _engines[url] = _create_engine(url)
    return _engines[url]


def _create_engine(url: str) -> Engine:
    """Pool size, overflow and wait from settings. ``sqlalchemy.create_engine`` is looked up
    at call time, so tracing (``shopflow.tracing``) instruments engines made after it."""
    settings = get_settings()
    pool = {"pool_size": settings.db_pool_size, "pool_timeout": settings.db_pool_timeout_s}
    if url.startswith("sqlite"):
        settings.home_dir.mkdir(parents=True, exist_ok=True)
        engine = sqlalchemy.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **pool
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _: object) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    connect_args = {}
    if settings.db_statement_timeout_ms:
        connect_args["options"] = f"-c statement_timeout={settings.db_statement_timeout_ms}"
    engine = sqlalchemy.create_engine(
        url,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=settings.db_ping_idle_s == 0,
        connect_args=connect_args,
        **pool,
    )
    if settings.db_ping_idle_s > 0:
        _ping_when_idle(engine, settings.db_ping_idle_s)
    return engine


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """``pool_pre_ping`` for connections that sat in the pool longer than ``idle_s``: a busy
    server reuses its connections every few milliseconds, and a ping is a round trip per
    checkout (four per payment). A dead connection fails its ping and the pool replaces it;
    one that died within ``idle_s`` fails its first statement, which invalidates the pool,
    so the connections beside it are replaced too."""

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi: DBAPIConnection, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) <= idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi)
        except engine.dialect.loaded_dbapi.Error as error:
            raise sqlalchemy.exc.DisconnectionError(str(error)) from error


def _sessionmaker(url: str | None) -> sessionmaker[Session]:
    url = url or default_url()
    if url not in _sessions:
        _sessions[url] = sessionmaker(bind=get_engine(url), expire_on_commit=False)
    return _sessions[url]


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = _sessionmaker(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_connection(url: str | None = None) -> Iterator[sqlalchemy.Connection]:
    """A connection for reads that need no transaction (one statement, or reads that need not
    agree). On PostgreSQL it runs in autocommit, which saves the BEGIN and the closing round
    trips (psycopg switches on the client; the pool switches back on check-in); on SQLite it
    is an ordinary connection (its reads take no lock)."""
    engine = get_engine(url)
    connection = engine.connect()
    if engine.dialect.name == "postgresql":
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
    with connection:
        yield connection


@contextmanager
def read_scope(url: str | None = None) -> Iterator[Session]:
    """An ORM session on a ``read_connection``: no transaction on PostgreSQL."""
    if get_engine(url).dialect.name != "postgresql":
        with session_scope(url) as session:
            yield session
        return
    with read_connection(url) as connection, Session(bind=connection) as session:
        yield session


def reset_engines() -> None:
    """Dispose cached engines (tests switching DATABASE_URL or SHOPFLOW_HOME)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _sessions.clear()
    _beside.clear()


def beside_engine(name: str, make: Callable[[], T]) -> T:
    """Process state kept for the current database under ``name`` (made by ``make`` on first
    use): it lives as long as the engine, so another database or ``reset_engines`` starts
    it afresh."""
    key = (str(get_engine().url), name)
    found = _beside.get(key)
    if found is None:
        found = _beside[key] = make()
    return cast(T, found)
