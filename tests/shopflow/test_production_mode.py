"""No public defaults in production: SHOPFLOW_ENV=production (or a service URL on another host)
makes the API, the relay and the consumers refuse to start while a secret is a built-in default
or shorter than 32 bytes, naming it; dev mode says so in one line; ``shopflow token`` mints
admin tokens in production only with the signing key given."""

from __future__ import annotations

import base64
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.main import app as cli
from commerce import audit
from shopflow import config
from shopflow.config import InsecureSettings, Settings, check_startup, get_settings

STRONG = {
    "SHOPFLOW_JWT_SECRET": "j" * 40,
    "STRIPE_WEBHOOK_SECRET": "whsec_" + "w" * 40,
    "SHOPFLOW_API_KEY_PEPPER": "p" * 40,
    "SHOPFLOW_MASTER_KEY": base64.b64encode(b"m" * 32).decode(),
    "SHOPFLOW_PII_HASH_KEY": base64.b64encode(b"h" * 32).decode(),
}


@pytest.fixture
def production(shopflow_home: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("SHOPFLOW_ENV", "production")
    get_settings.cache_clear()
    return get_settings()


def test_embedded_default_is_dev_mode_and_says_so(shopflow_home: Settings) -> None:
    assert not shopflow_home.production
    line = check_startup(shopflow_home, "API")
    assert line.startswith("API: development mode") and "\n" not in line


@pytest.mark.parametrize(
    ("name", "url", "production"),
    [
        ("REDIS_URL", "redis://cache.internal:6379/0", True),
        ("REDIS_URL", "redis://127.0.0.1:6390", False),
        ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092,broker-2:9092", True),
        ("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092", False),
        ("DATABASE_URL", "postgresql://app:pw@db.example.com:5432/shop", True),
        ("DATABASE_URL", "postgresql://postgres:@/postgres?host=/tmp/pg", False),  # a socket
    ],
)
def test_a_service_on_another_host_implies_production(
    shopflow_home: Settings, monkeypatch: pytest.MonkeyPatch, name: str, url: str, production: bool
) -> None:
    monkeypatch.setenv(name, url)
    assert Settings().production is production


def test_production_refuses_public_defaults_naming_each(production: Settings) -> None:
    with pytest.raises(InsecureSettings) as refused:
        check_startup(production, "API")
    message = str(refused.value)
    for env in ("SHOPFLOW_JWT_SECRET", "STRIPE_WEBHOOK_SECRET", "SHOPFLOW_API_KEY_PEPPER"):
        assert env in message


def test_short_secrets_are_refused_and_strong_ones_pass(
    production: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in STRONG.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SHOPFLOW_JWT_SECRET", "s" * 31)
    with pytest.raises(InsecureSettings, match=r"jwt_secret \(SHOPFLOW_JWT_SECRET\) is shorter"):
        check_startup(Settings(), "relay")
    monkeypatch.setenv("SHOPFLOW_JWT_SECRET", "s" * 32)
    assert check_startup(Settings(), "relay") == "relay: production mode"


def test_another_secret_joins_the_check_by_appending_to_the_list(
    production: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in STRONG.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(config, "SECRET_SETTINGS", [*config.SECRET_SETTINGS, "smtp_password"])
    with pytest.raises(InsecureSettings, match="smtp_password"):
        check_startup(Settings(), "consumer")


def test_api_relay_and_consumers_refuse_to_start(production: Settings) -> None:
    from serving.app import create_app

    with pytest.raises(InsecureSettings, match="API refuses"), TestClient(create_app()):
        pass
    runner = CliRunner()
    for args in (["serve"], ["relay", "--once"], ["stream", "features", "--max-seconds", "1"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert "refuses to start in production" in result.output
        assert "SHOPFLOW_JWT_SECRET" in result.output


def test_token_refuses_admin_in_production_without_the_signing_key(
    production: Settings, tmp_path: Path
) -> None:
    runner = CliRunner()
    refused = runner.invoke(cli, ["token", "--user", "ops", "--role", "admin"])
    assert refused.exit_code == 2 and "--signing-key-file" in refused.output
    customer = runner.invoke(cli, ["token", "--user", "u1"])
    assert customer.exit_code == 0
    key_file = tmp_path / "jwt.key"
    key_file.write_text("k" * 40 + "\n")
    given = runner.invoke(
        cli, ["token", "--user", "ops", "--role", "admin", "--signing-key-file", str(key_file)]
    )
    assert given.exit_code == 0, given.output
    claims = jwt.decode(given.stdout.strip(), "k" * 40, algorithms=["HS256"])
    assert claims["sub"] == "ops" and claims["roles"] == ["admin"]
    [minted] = audit.query(action="cli:token").items  # admin tokens are audited, customers' not
    assert minted["target_ids"] == {"user_id": "ops", "roles": "admin"}
    wrong_role = runner.invoke(cli, ["token", "--user", "x", "--role", "publishable"])
    assert wrong_role.exit_code == 2
