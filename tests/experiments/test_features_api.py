"""``GET /api/features/{client_key}`` and ``POST /api/features/evaluate`` on a real app, Redis
and SQLite: the SDK evaluates the served payload like the server, exposures are deduplicated,
bad input is refused, and an invalid file keeps the API from starting."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from growthbook import GrowthBook
from typer.testing import CliRunner

from cli.main import app as cli
from shopflow.config import Settings, get_settings
from tests.serving.fakes.commerce import auth

FEATURES = """
features:
  - key: banner
    type: boolean
    default: false
    rules:
      - {condition: {country: DE}, force: true}
  - key: subject
    type: string
    default: Hello
    rules:
      - {key: subject-test, variations: [Hello, Hi there], variation_keys: [control, casual]}
experiments:
  - key: recs-test
    status: running
    variants:
      - {key: control, weight: 0.5, strategy: champion}
      - {key: als, weight: 0.5, strategy: als}
"""


@pytest.fixture
def experiments_file(shopflow_home: Settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = shopflow_home.home_dir / "experiments.yaml"
    path.write_text(FEATURES)
    monkeypatch.setenv("SHOPFLOW_EXPERIMENTS_FILE", str(path))
    get_settings.cache_clear()
    return path


@pytest.fixture
def client(experiments_file: Path, redis_server: str, monkeypatch) -> Iterator[TestClient]:
    from commerce.db import reset_engines
    from serving.app import create_app

    monkeypatch.setenv("REDIS_URL", redis_server)
    get_settings.cache_clear()
    reset_engines()
    with TestClient(create_app()) as test_client:
        yield test_client
    reset_engines()


def _client_key(env: str = "production") -> str:
    result = CliRunner().invoke(cli, ["experiments", "client-key", "create", "--env", env])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def test_sdk_payload_by_client_key_evaluates_like_the_server(client: TestClient) -> None:
    key = _client_key()
    assert key.startswith("sdk-production-")
    payload = client.get(f"/api/features/{key}")
    assert payload.status_code == 200, payload.text
    features = payload.json()["features"]
    assert set(features) == {"banner", "subject", "recs-test"}

    service = auth("svc", "service")
    for i in range(50):
        attributes = {"id": f"u{i}", "country": "DE" if i % 2 else "FR"}
        server = client.post(
            "/api/features/evaluate", json={"attributes": attributes}, headers=service
        ).json()["features"]
        gb = GrowthBook(attributes=attributes, features=features)
        for name, result in server.items():
            assert gb.get_feature_value(name, None) == result["value"], (name, attributes)
        gb.destroy()

    assert client.get("/api/features/sdk-production-not-a-key").status_code == 404
    assert client.get(f"/api/features/{key}x").status_code == 404


def test_evaluate_logs_each_users_exposure_once(client: TestClient) -> None:
    body = {"attributes": {"id": "u7", "unknown": {"deep": [1]}, "country": "DE"}}
    first = client.post("/api/features/evaluate", json=body, headers=auth("u7"))
    assert first.status_code == 200, first.text
    got = first.json()["features"]
    assert got["banner"] == {"value": True, "source": "force"}  # unknown attribute ignored
    assert got["subject"]["experiment"]["key"] == "subject-test"
    for _ in range(3):
        client.post("/api/features/evaluate", json=body, headers=auth("u7"))
    only = client.post(
        "/api/features/evaluate", json=body | {"features": ["subject"]}, headers=auth("u7")
    ).json()
    assert set(only["features"]) == {"subject"}

    client.__exit__(None, None, None)  # shutdown flushes the exposure buffer
    folder = get_settings().landing_dir / "rec_impression"
    rows = [r for f in sorted(folder.rglob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    logged = sorted((r["user_id"], r["experiment_key"], r["variant"]) for r in rows)
    subject = got["subject"]["experiment"]["variation"]
    recs = got["recs-test"]["experiment"]["variation"]
    assert logged == sorted([("u7", "subject-test", subject), ("u7", "recs-test", recs)])


def test_evaluate_refuses_other_users_unknown_features_and_bad_bodies(client: TestClient):
    other = client.post("/api/features/evaluate", json={"attributes": {"id": "u2"}},
                        headers=auth("u1"))  # fmt: skip
    assert other.status_code == 403
    assert other.headers["content-type"].startswith("application/problem+json")
    unknown = client.post("/api/features/evaluate",
                          json={"attributes": {"id": "u1"}, "features": ["nope"]},
                          headers=auth("u1"))  # fmt: skip
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    bad = client.post("/api/features/evaluate", json={"attributes": []}, headers=auth("u1"))
    assert bad.status_code == 422
    assert client.post("/api/features/evaluate", json={"attributes": {}}).status_code == 401


def test_client_key_environment_must_be_a_name(shopflow_home: Settings) -> None:
    result = CliRunner().invoke(cli, ["experiments", "client-key", "create", "--env", "Prod!"])
    assert result.exit_code == 2 and "environment 'Prod!'" in result.output


def test_api_refuses_to_start_with_an_invalid_file(
    experiments_file: Path, redis_server, monkeypatch
):
    from serving.app import create_app
    from shopflow.experiments import ExperimentsFileError

    monkeypatch.setenv("REDIS_URL", redis_server)
    experiments_file.write_text(FEATURES.replace("country: DE", "country: {$near: DE}"))
    get_settings.cache_clear()
    refused = pytest.raises(ExperimentsFileError, match=r"features\.banner.*unknown operator")
    with refused, TestClient(create_app()):
        pass
