"""Request logs with ids, /metrics status labels, /livez and /readyz, on the whole app with a
real Redis and broker (and an unreachable database, Redis and broker for readiness)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from shopflow.config import get_settings
from shopflow.embedded import free_port
from tests.experiments.helpers import use_experiments
from tests.serving.test_recommendations import auth, publish


@pytest.fixture
def client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kafka_broker: str, redis_server: str,
    redis_client,  # noqa: ANN001  (flushes Redis)
) -> Iterator[TestClient]:  # fmt: skip
    from commerce.db import migrate, reset_engines
    from serving.app import create_app

    monkeypatch.setenv("SHOPFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker)
    monkeypatch.setenv("REDIS_URL", redis_server)
    monkeypatch.setenv("SHOPFLOW_LOG_FORMAT", "json")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    reset_engines()
    migrate.upgrade()
    use_experiments(monkeypatch, tmp_path)
    publish(redis_client)
    with TestClient(create_app(), headers=auth("storefront", "service")) as test_client:
        yield test_client
    reset_engines()
    get_settings.cache_clear()


def _request_lines(err: str) -> list[dict]:
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "shopflow.request"]


def test_one_json_line_per_request_with_the_clients_request_id(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    resp = client.get("/recommendations/u1", headers={"X-Request-ID": "checkout-42.a"})
    assert resp.status_code == 200
    assert resp.headers["x-request-id"] == "checkout-42.a"
    (line,) = _request_lines(capsys.readouterr().err)
    assert line["request_id"] == "checkout-42.a"
    assert line["route"] == "/recommendations/{user_id}"  # the template, never the raw path
    assert (line["method"], line["status"], line["level"]) == ("GET", 200, "info")
    assert isinstance(line["ms"], float) and line["timestamp"].endswith("Z")


@pytest.mark.parametrize("given", [None, "has space", "x" * 200, "new\\nline"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_generated_one(
    client: TestClient, capsys: pytest.CaptureFixture[str], given: str | None
) -> None:
    capsys.readouterr()
    headers = {"X-Request-ID": given} if given else {}
    resp = client.get("/api/products", headers=headers)
    generated = resp.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    (line,) = _request_lines(capsys.readouterr().err)
    assert line["request_id"] == generated and line["route"] == "/api/products"


def _count(client: TestClient, method: str, route: str, status: int) -> float:
    labels = f'method="{method}",route="{route}",status="{status}"'
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"shopflow_http_requests_total{{{labels}}}"):
            return float(line.rpartition(" ")[2])
    return 0.0


def test_metrics_label_404_and_405_as_sent(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (_count(client, "GET", "unmatched", 404), _count(client, "DELETE", "/health", 405))
    assert client.get(f"/no-such-{uuid.uuid4().hex}").status_code == 404
    assert client.delete("/health").status_code == 405
    assert _count(client, "GET", "unmatched", 404) == before[0] + 1
    assert _count(client, "DELETE", "/health", 405) == before[1] + 1
    assert _count(client, "GET", "unmatched", 500) == 0
    statuses = {(x["route"], x["status"]) for x in _request_lines(capsys.readouterr().err)}
    assert {("unmatched", 404), ("/health", 405)} <= statuses


def test_livez_and_readyz_when_everything_answers(client: TestClient) -> None:
    assert client.get("/livez").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    body = ready.json()
    assert body["status"] == "ready" and body["failing"] == []
    assert set(body["checks"]) == {"database", "redis", "broker", "recommendations"}


def test_readyz_names_a_missing_publication(client: TestClient, redis_client) -> None:  # noqa: ANN001
    redis_client.flushdb()
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json()["failing"] == ["recommendations"]
    assert "publication" in resp.json()["checks"]["recommendations"]["error"]


def test_unreachable_parts_make_readyz_503_naming_them_while_livez_stays_200(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from commerce.db import reset_engines
    from serving.app import create_app

    dead = [free_port() for _ in range(3)]  # nothing listens there
    monkeypatch.setenv("SHOPFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", f"postgresql://shop:pw@127.0.0.1:{dead[0]}/shop")
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{dead[1]}/0")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{dead[2]}")
    monkeypatch.setenv("SHOPFLOW_RATE_LIMITS_ENABLED", "false")
    get_settings.cache_clear()
    reset_engines()
    try:
        with TestClient(create_app()) as client:
            assert client.get("/livez").status_code == 200
            resp = client.get("/readyz")
            assert resp.status_code == 503
            body = resp.json()
            assert body["status"] == "unready"
            assert body["failing"] == ["database", "redis", "broker", "recommendations"]
            assert all(body["checks"][part]["error"] for part in body["failing"])
            assert client.get("/livez").status_code == 200
    finally:
        reset_engines()
        get_settings.cache_clear()
