"""Production settings: malformed service URLs stop a command at start naming the variable;
Redis credentials and Kafka options reach every client; dbt never writes into the checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import redis
from pydantic import ValidationError

from shopflow import bus
from shopflow.config import Settings, describe_invalid

BAD = [
    ("DATABASE_URL", "mysql://db/x"),
    ("DATABASE_URL", "postgresql:///nohost"),
    ("DATABASE_URL", "postgresql://db:port/x"),
    ("REDIS_URL", "http://cache:6379"),
    ("REDIS_URL", "redis://cache:70000"),
    ("REDIS_URL", "redis://"),
    ("KAFKA_BOOTSTRAP_SERVERS", "broker"),
    ("KAFKA_BOOTSTRAP_SERVERS", "broker:9092,other:x"),
    ("SHOPFLOW_MEDIA_URL", "s3:///prefix-without-bucket"),
    ("SHOPFLOW_MEDIA_URL", "nosuch://bucket/x"),
    ("SHOPFLOW_MEDIA_URL", "no-protocol"),
]


@pytest.mark.parametrize(("name", "value"), BAD)
def test_a_malformed_setting_is_refused_naming_it(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert describe_invalid(caught.value).startswith(f"invalid settings: {name}")


@pytest.mark.parametrize(("name", "value"), [BAD[0], BAD[4], BAD[6], BAD[8]])
def test_the_cli_stops_at_start_naming_the_setting(name: str, value: str, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "SHOPFLOW_HOME": str(tmp_path), name: value}
    done = subprocess.run(
        [sys.executable, "-m", "cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert name in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "postgresql://u:p@db.internal:5432/shop"),
        ("DATABASE_URL", "sqlite:////var/lib/shop.db"),
        ("REDIS_URL", "rediss://:secret@cache.internal:6380/0"),
        ("KAFKA_BOOTSTRAP_SERVERS", "b1:9092,b2:9092"),
        ("SHOPFLOW_MEDIA_URL", "s3://bucket/prefix"),
    ],
)
def test_well_formed_settings_pass(name: str, value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, value)
    Settings()


def test_redis_password_and_ca_join_the_url(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    settings = Settings(
        redis_url="rediss://cache.internal:6380/0", redis_password="p@ss/word", redis_ca_file=ca
    )
    pool = redis.Redis.from_url(settings.redis_url).connection_pool
    assert pool.connection_class is redis.SSLConnection
    assert pool.connection_kwargs["password"] == "p@ss/word"
    assert pool.connection_kwargs["ssl_ca_certs"] == str(ca)


def test_kafka_options_reach_producers_consumers_and_admin() -> None:
    options = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "shop",
        "sasl.password": "secret",
        "ssl.ca.location": "/etc/ssl/ca.pem",
    }
    settings = Settings(kafka_options=options)
    for config in (
        bus.client_config("b:9092", settings),
        bus.producer_config("b:9092", 5000, settings),
        bus.consumer_config("b:9092", "g", settings),
    ):
        assert options.items() <= config.items()
