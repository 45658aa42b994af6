"""The app's wiring: every router module is included, and the one lifespan starts every
client and stops every client again (real Redis, no mocks)."""

from __future__ import annotations

import dataclasses
import gc
import pkgutil
import time
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.routing import Match

import serving.routers
from commerce.auth import mint_token
from serving.app import ROUTERS, create_app
from serving.clients import Clients
from shopflow import events
from shopflow.config import Settings, get_settings

ROUTER_MODULES = {m.name for m in pkgutil.iter_modules(serving.routers.__path__)}


def _scope(route: APIRoute | APIWebSocketRoute, method: str) -> dict[str, object]:
    path = route.path_format.format(**dict.fromkeys(route.param_convertors, "x"))
    kind = "websocket" if method == "WEBSOCKET" else "http"
    return {"type": kind, "path": path, "method": method, "root_path": "", "query_string": b""}


def _listed_routes() -> list[tuple[APIRoute | APIWebSocketRoute, str]]:
    found = []
    for module in ROUTERS:
        for route in module.router.routes:
            if isinstance(route, APIRoute | APIWebSocketRoute):
                for method in getattr(route, "methods", None) or {"WEBSOCKET"}:
                    found.append((route, method))
    return found


def test_every_router_module_is_wired() -> None:
    wired = {module.__name__.rpartition(".")[2] for module in ROUTERS}
    assert wired == ROUTER_MODULES, "a module in serving/routers/ is not listed in serving.app"
    assert all(hasattr(module, "router") for module in ROUTERS)


def test_routes_are_those_of_the_listed_routers() -> None:
    app = create_app()
    listed = _listed_routes()
    for route, method in listed:
        scope = _scope(route, method)
        assert any(r.matches(scope)[0] is Match.FULL for r in app.router.routes), scope
    documented = {
        (path, method.upper()) for path, ops in app.openapi()["paths"].items() for method in ops
    }
    defined = {(route.path, method) for route, method in listed}
    assert documented <= defined, f"routes no listed router defines: {documented - defined}"


def _client_ids(redis_client: object) -> set[str]:
    return {str(c["id"]) for c in redis_client.client_list()}  # type: ignore[attr-defined]


def _wait_gone(redis_client: object, ids: set[str]) -> set[str]:
    """The ids of ``ids`` still connected, after giving Redis up to 5 s to see them close."""
    deadline = time.monotonic() + 5
    while (left := ids & _client_ids(redis_client)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.fixture
def app_settings(
    shopflow_home: Settings, redis_server: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    monkeypatch.setenv("REDIS_URL", redis_server)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def test_lifespan_starts_and_stops_every_client(app_settings: Settings, redis_client) -> None:
    before = _client_ids(redis_client)
    gc.unfreeze()  # an earlier app in this process may have frozen already
    app = create_app()
    impression = events.make_event(
        "rec_impression",
        events.RecImpression(
            request_id="r-1",
            item_ids=["i-1"],
            model_name="als",
            model_version="1",
            placement="recommendations",
            experiment_key="exp",
            variant="b",
        ),  # fmt: skip
        user_id="u-1",
    )
    token = mint_token("u-1", ["customer"])
    with TestClient(app) as client:
        clients = app.state.clients
        assert isinstance(clients, Clients)
        for field in dataclasses.fields(Clients):
            assert getattr(clients, field.name) is not None, field.name
        assert clients.settings is get_settings()
        assert gc.get_freeze_count() > 0  # gc.freeze() ran at the end of start-up
        assert client.get("/health").json()["checks"]["redis"]["ok"] is True
        assert client.get("/experiments").status_code == 200
        with client.websocket_connect(f"/ws/notifications?token={token}") as ws:
            assert ws.receive_json() == {"type": "ready", "user_id": "u-1"}  # fan-out is up
        opened = _client_ids(redis_client) - before
        assert opened, "the app holds no Redis connection while it runs"
        clients.exposures.buffer.append(impression)
    assert not _wait_gone(redis_client, opened), "a Redis connection outlived the app"
    assert clients.exposures.buffer == []  # flushed once more at shutdown
    landed = list(app_settings.home_dir.rglob("*.parquet"))
    assert landed, "the exposure flushed at shutdown did not reach the landing zone"
