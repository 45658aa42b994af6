"""API keys like Stripe's: created and revoked through the CLI and the domain, stored as keyed
hashes, accepted as ``Authorization: Bearer sk_...``/``pk_...``, cached in process. Real
database (SQLite and PostgreSQL), real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app as cli
from commerce import api_keys, audit
from commerce.auth import Role
from commerce.db import session_scope
from commerce.db.models.api_keys import ApiKey
from commerce.errors import Invalid, NotFound, Unauthorized
from shopflow.config import get_settings


@pytest.fixture
def client(
    database: str, redis_server: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    from serving.app import create_app

    monkeypatch.setenv("REDIS_URL", redis_server)
    get_settings.cache_clear()
    api_keys.CACHE.forget()
    with TestClient(create_app()) as test_client:
        yield test_client
    api_keys.CACHE.forget()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_keys_are_shown_once_and_stored_as_keyed_hashes(database: str) -> None:
    info, key = api_keys.create("secret", "backend")
    kind, mode, key_id = api_keys.parse(key)
    assert key.startswith(f"sk_test_{info.id}_") and (kind, mode, key_id) == (
        "secret",
        "test",
        info.id,
    )
    assert len(key) > 50
    with session_scope() as session:
        row = session.scalars(select(ApiKey)).one()
        stored = [str(getattr(row, c.key)) for c in ApiKey.__table__.columns]
    assert not any(key in value or key.rsplit("_", 1)[1] in value for value in stored)
    assert len(row.secret_hash) == 64  # HMAC-SHA256, hex
    _, publishable = api_keys.create("publishable", "storefront")
    assert publishable.startswith("pk_test_")
    assert [(k.kind, k.name) for k in api_keys.list_keys()] == [
        ("secret", "backend"),
        ("publishable", "storefront"),
    ]


def test_bad_input_is_refused(database: str) -> None:
    with pytest.raises(Invalid, match="unknown key kind"):
        api_keys.create("root", "x")
    with pytest.raises(Invalid, match="name"):
        api_keys.create("secret", "  ")
    with pytest.raises(NotFound):
        api_keys.revoke("000000000000")
    for junk in ("sk_", "sk_test_short_x", "pk_test_0123456789ab", "xx_test_0123456789ab_s"):
        with pytest.raises(Unauthorized, match="^invalid credentials$"):
            api_keys.principal_of(junk, None, get_settings())


def test_roles_and_mode_of_keys(database: str) -> None:
    settings = get_settings()
    _, secret = api_keys.create("secret", "a")
    _, publishable = api_keys.create("publishable", "b")
    stored = api_keys.load(api_keys.parse(secret)[2])
    assert api_keys.principal_of(secret, stored, settings).roles == {Role.service}
    stored_pk = api_keys.load(api_keys.parse(publishable)[2])
    assert api_keys.principal_of(publishable, stored_pk, settings).roles == {Role.publishable}
    with pytest.raises(Unauthorized):  # the right id with the other key's secret
        api_keys.principal_of(secret[:-1] + ("A" if secret[-1] != "A" else "B"), stored, settings)
    live = settings.model_copy(update={"env": "production"})
    with pytest.raises(Unauthorized):  # a test key is refused in production
        api_keys.principal_of(secret, stored, live)


def test_secret_key_works_until_revoked_and_revocation_is_seen_at_once_here(
    client: TestClient,
) -> None:
    info, key = api_keys.create("secret", "scraper")
    assert client.get("/metrics", headers=bearer(key)).status_code == 200
    api_keys.revoke(info.id)  # this process forgets it at once
    refused = client.get("/metrics", headers=bearer(key))
    assert refused.status_code == 401 and refused.json()["detail"] == "invalid credentials"
    assert refused.headers["www-authenticate"] == "Bearer"


def test_another_process_revoking_is_seen_within_the_cache_ttl(client: TestClient) -> None:
    info, key = api_keys.create("secret", "elsewhere")
    assert client.get("/analytics/realtime", headers=bearer(key)).status_code == 200

    def revoke_elsewhere() -> None:  # what `shopflow keys revoke` does in its own process
        with session_scope() as session:
            row = session.get(ApiKey, info.id)
            assert row is not None
            row.revoked_at = api_keys.utcnow()

    revoke_elsewhere()
    # within Settings.api_key_cache_s (10 s by default) this process may still accept it ...
    assert client.get("/analytics/realtime", headers=bearer(key)).status_code == 200
    # ... and once its cache entry is past the TTL, the next request looks again and refuses
    api_keys.CACHE.put(info.id, api_keys.CACHE.get(info.id)[1], ttl=-1)  # the entry expired
    assert client.get("/analytics/realtime", headers=bearer(key)).status_code == 401


def test_cli_creates_lists_and_revokes(database: str) -> None:
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--kind", "publishable", "--name", "shop"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("pk_test_")
    key_id = api_keys.parse(key)[2]
    listed = runner.invoke(cli, ["keys", "list"])
    assert listed.exit_code == 0 and key_id in listed.stdout and key not in listed.stdout
    revoked = runner.invoke(cli, ["keys", "revoke", key_id])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert api_keys.list_keys()[0].revoked_at is not None
    bad_kind = runner.invoke(cli, ["keys", "create", "--kind", "root", "--name", "x"])
    assert bad_kind.exit_code == 2 and "unknown key kind" in bad_kind.output
    unknown = runner.invoke(cli, ["keys", "revoke", "nope"])
    assert unknown.exit_code == 2 and "no API key 'nope'" in unknown.output
    kept = [(e["action"], e["target_ids"]) for e in audit.query(action="cli:keys*").items]
    assert kept == [
        ("cli:keys revoke", {"key_id": key_id}),
        ("cli:keys create", {"key_id": key_id, "kind": "publishable"}),
    ]
