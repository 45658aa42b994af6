"""PostgreSQL's pool pings a connection only after it sat idle (``db_ping_idle_s``): a busy
server pays no round trip per checkout, and a connection that died while idle is replaced
before anyone uses it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text

from commerce.db import get_engine, reset_engines, session_scope
from shopflow.config import get_settings

IDLE_S = 0.3


@pytest.fixture
def pinged(database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The ``database`` fixture's PostgreSQL with a short idle limit; yields the pings made."""
    monkeypatch.setenv("SHOPFLOW_DB_PING_IDLE_S", str(IDLE_S))
    get_settings.cache_clear()
    reset_engines()
    dialect = get_engine().dialect
    pings: list[int] = []
    real_ping = dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(1)
        return real_ping(dbapi_connection)  # type: ignore[arg-type]

    monkeypatch.setattr(dialect, "do_ping", counted)
    yield pings
    reset_engines()


def _backend_pid() -> int:
    with session_scope() as session:
        return int(session.scalar(text("SELECT pg_backend_pid()")) or 0)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_connection_reused_at_once_is_not_pinged(pinged: list[int]) -> None:
    first = _backend_pid()
    assert [_backend_pid() for _ in range(5)] == [first] * 5  # the pool's one connection
    assert pinged == []


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_connection_that_died_while_idle_is_replaced_before_use(
    database: str, pinged: list[int]
) -> None:
    dead = _backend_pid()
    with psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://")) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [dead])
    time.sleep(IDLE_S * 2)
    replaced = _backend_pid()  # no error: the ping found it dead and the pool reconnected
    assert replaced != dead
    assert len(pinged) == 1
