"""An API started while Redis is down: nothing answers 500; recommendations answer 503 with
Retry-After (no popularity list in memory yet), database-backed reads still answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from commerce.db import migrate, reset_engines
from shopflow import embedded
from shopflow.config import Settings, get_settings
from tests.serving.fakes.commerce import auth, put_product


@pytest.fixture
def client(shopflow_home: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    from serving.app import create_app

    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{embedded.free_port()}/0")  # nobody
    monkeypatch.setenv("SHOPFLOW_REDIS_TIMEOUT_S", "0.5")
    get_settings.cache_clear()
    reset_engines()
    migrate.upgrade(get_settings().sqlalchemy_url)
    with TestClient(create_app()) as test_client:
        yield test_client
    reset_engines()


def test_nothing_answers_500_without_redis(client: TestClient) -> None:
    put_product(client, "p1")
    recs = client.get("/recommendations/u1", headers=auth("u1"))
    assert recs.status_code == 503 and int(recs.headers["retry-after"]) >= 1
    assert recs.headers["content-type"] == "application/problem+json"
    assert "online store unavailable" in recs.json()["detail"]
    for path in ("/items/p1/similar", "/analytics/realtime"):
        resp = client.get(path, headers=auth("admin-1", "admin"))
        assert resp.status_code == 503 and resp.headers["retry-after"], (path, resp.text)
    assert client.get("/health").json()["status"] == "degraded"
    assert client.get("/api/products/p1/rating").status_code == 200
    assert client.get("/api/products/p1/reviews").status_code == 200
    review = client.post(
        "/api/products/p1/reviews", json={"rating": 5, "body": "Solid pan"}, headers=auth("u1")
    )
    assert review.status_code == 503 and review.headers["retry-after"]  # the rate limit is down
    order = client.post(
        "/api/orders", json={"lines": [{"product_id": "p1", "quantity": 1}]}, headers=auth("u1")
    )
    assert order.status_code == 201
