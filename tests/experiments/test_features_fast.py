"""``POST /api/features/evaluate`` on the fast lane (``serving.fastlane``), on a
real app and Redis: the lane answers valid requests (as /metrics counts them, under the route),
gives the same answer as FastAPI's own route, applies the route's credential rules, and hands
every body it does not take to FastAPI unchanged, so errors are FastAPI's own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Body, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel

from commerce import api_keys
from serving import fastlane
from serving.routers import features
from shopflow.config import get_settings
from tests.experiments.test_features_api import experiments_file  # noqa: F401  (a fixture)
from tests.lane_spy import spy_on_handler
from tests.serving.fakes.commerce import auth

URL = "/api/features/evaluate"
BODY = {"attributes": {"id": "u7", "country": "DE"}}


@pytest.fixture
def lane_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The values each lane answer was computed from (the lane's handler, spied on)."""
    return spy_on_handler(monkeypatch, features, "_evaluate_fast")


@pytest.fixture
def client(
    experiments_file: Path,  # noqa: F811  (the fixture imported above)
    redis_server: str,
    monkeypatch: pytest.MonkeyPatch,
    lane_calls: list[dict[str, Any]],
) -> Iterator[TestClient]:
    from commerce.db import migrate, reset_engines
    from serving.app import create_app

    monkeypatch.setenv("REDIS_URL", redis_server)
    get_settings.cache_clear()
    reset_engines()
    migrate.upgrade()  # API keys live in the database
    with TestClient(create_app()) as test_client:
        yield test_client
    reset_engines()


def _served(client: TestClient) -> float:
    labels = f'method="POST",route="{URL}",status="200"'
    metrics = client.get("/metrics", headers=auth("scraper", "service")).text
    for line in metrics.splitlines():
        if line.startswith(f"shopflow_http_requests_total{{{labels}}}"):
            return float(line.rpartition(" ")[2])
    return 0.0


def test_the_lane_answers_as_the_route_does(client: TestClient, lane_calls: list) -> None:
    before = _served(client)
    fast = client.post(URL, json=BODY, headers=auth("u7"))
    assert fast.status_code == 200, fast.text
    assert len(lane_calls) == 1 and lane_calls[0]["body"].attributes == BODY["attributes"]
    # a +json media type: FastAPI's route answers (it reads such a body as JSON too)
    vendor = auth("u7") | {"Content-Type": "application/vnd.shop+json"}
    routed = client.post(URL, content=json.dumps(BODY), headers=vendor)
    assert routed.status_code == 200 and len(lane_calls) == 1
    assert routed.json() == fast.json()
    assert fast.json()["features"]["banner"] == {"value": True, "source": "force"}
    assert _served(client) == before + 2  # counted under the route, lane or not


def test_bodies_the_lane_does_not_take_get_fastapis_answer(
    client: TestClient, lane_calls: list
) -> None:
    headers = auth("u7") | {"Content-Type": "application/json"}
    for raw in (b"{not json", b'{"attributes": []}', b'{"attributes": {}, "extra": 1}', b""):
        resp = client.post(URL, content=raw, headers=headers)
        assert resp.status_code == 422, raw
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["errors"], raw  # FastAPI's validation errors, from the replayed body
    assert lane_calls == []
    form = client.post(URL, data={"attributes": "x"}, headers=auth("u7"))
    assert form.status_code == 422 and lane_calls == []


def test_the_lane_applies_the_routes_credential_rules(client: TestClient, lane_calls: list) -> None:
    missing = client.post(URL, json=BODY)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert client.post(URL, json=BODY, headers=auth("u8")).status_code == 403  # not their id
    _, publishable = api_keys.create("publishable", "storefront")
    visitor = {"Authorization": f"Bearer {publishable}"}
    refused = client.post(URL, json=BODY, headers=visitor)
    assert refused.status_code == 403, refused.text
    service = client.post(URL, json=BODY, headers=auth("svc", "service"))
    assert service.status_code == 200  # a service evaluates for anyone
    assert len(lane_calls) == 1  # refused before the evaluation: only the service's ran


class _Thing(BaseModel):
    name: str


async def _answer(state: object, values: dict[str, object]) -> bytes:
    return b"{}"


def _route(app: FastAPI) -> APIRoute:
    return next(r for r in app.routes if isinstance(r, APIRoute))


def test_only_a_post_with_one_json_model_gets_a_lane() -> None:
    one = FastAPI()

    @one.post("/things")
    async def create(thing: _Thing) -> None: ...

    assert fastlane.Lane(_route(one), _answer).problems(one) == []

    embedded = FastAPI()

    @embedded.post("/things")
    async def create_embedded(thing: Annotated[_Thing, Body(embed=True)]) -> None: ...

    assert fastlane.Lane(_route(embedded), _answer).problems(embedded)

    two = FastAPI()

    @two.post("/things")
    async def create_two(thing: _Thing, other: _Thing) -> None: ...

    assert fastlane.Lane(_route(two), _answer).problems(two)

    put = FastAPI()

    @put.put("/things")
    async def replace(thing: _Thing) -> None: ...

    assert fastlane.Lane(_route(put), _answer).problems(put)
