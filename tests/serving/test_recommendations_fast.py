"""The fast lane of ``GET /recommendations/{user}`` and its one-trip read-ahead, against a real
Redis: same answers and errors as the FastAPI route, counted in /metrics, one round trip for a
known user (as Redis's MONITOR sees it), the fallbacks read in the same trip."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, TypeVar

import pytest
from fastapi import Depends, FastAPI, Query
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from serving import fastlane
from serving.recommendations import service as recs
from serving.recommendations.read_ahead import Read
from shopflow.config import Settings, get_settings
from shopflow.online_store import keys
from tests.experiments.helpers import use_experiments
from tests.serving.test_recommendations import auth, ids, publish

T = TypeVar("T")


@pytest.fixture
def published(
    shopflow_home: Settings, redis_server: str, redis_client, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    from serving.app import create_app

    use_experiments(monkeypatch, shopflow_home.home_dir / "conf")
    monkeypatch.setenv("REDIS_URL", redis_server)
    get_settings.cache_clear()
    publish(redis_client)
    with TestClient(create_app(), headers=auth("storefront", "service")) as client:
        yield client


def _watched(redis_client, request: Callable[[], T]) -> tuple[T, list[str]]:  # noqa: ANN001
    """``request()``'s result and the commands Redis received from the app meanwhile, as
    MONITOR shows them (not the ones its scripts ran): a round trip is one command on this
    path, a pipeline would show as several."""
    done = f"done-{uuid.uuid4().hex}"
    with redis_client.monitor() as monitor:
        result = request()
        redis_client.echo(done)  # from the test's own client: the end of the window
        seen = []
        for entry in monitor.listen():
            if entry["command"] == f"ECHO {done}":  # drop the test client's own commands
                mine = entry["client_port"]
                return result, [cmd for port, cmd in seen if port != mine]
            if entry["client_type"] != "lua":
                seen.append((entry["client_port"], entry["command"].split(" ", 1)[0].upper()))
    raise AssertionError("MONITOR ended early")


def test_a_known_user_costs_one_round_trip(published: TestClient, redis_client) -> None:
    published.get("/recommendations/u1")  # publication cached, script loaded
    resp, sent = _watched(
        redis_client, lambda: published.get("/recommendations/u1", params={"limit": 5})
    )
    assert ids(resp.json()) == ["i1", "i6", "i7", "i8", "i9"]
    assert sent == ["EVALSHA"]  # the rate limit spends the lease the first request took


def test_recent_items_and_their_neighbours_come_with_the_read_ahead(
    published: TestClient, redis_client
) -> None:
    published.get("/recommendations/u1")  # publication cached, script loaded
    redis_client.zadd(keys.user_recent_items("u1"), {"i13": time.time()})
    redis_client.zadd(keys.coviews("i13"), {"i19": 3})  # published neighbours: i3 0.95, i1 0.9
    resp, sent = _watched(
        redis_client, lambda: published.get("/recommendations/u1", params={"limit": 4})
    )
    body = resp.json()
    assert ids(body) == ["i1", "i19", "i6", "i7"]  # i3 out of stock, i13 itself left out
    assert body["items"][0]["sources"] == ["batch", "realtime"]
    assert body["items"][1]["sources"] == ["realtime"]
    # i19: a co-view of an item touched a moment ago: about half a similarity, 6 decimals
    assert body["items"][1]["score"] == pytest.approx(0.5, abs=1e-3)
    assert all(item["score"] == round(item["score"], 6) for item in body["items"])
    assert sent == ["EVALSHA", "EVALSHA"]  # read-ahead, then the new candidates'
    # availability


def test_the_api_recovers_when_redis_drops_its_connections(
    published: TestClient, redis_client
) -> None:
    published.get("/recommendations/u1")
    redis_client.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    for _ in range(3):
        assert ids(published.get("/recommendations/u1", params={"limit": 2}).json()) == [
            "i1",
            "i6",
        ]


def test_values_the_route_would_reject_go_to_fastapi(published: TestClient) -> None:
    for params in ({"limit": "0"}, {"limit": "ten"}, {"category": ""}, {"strategy": "a b"}):
        resp = published.get("/recommendations/u1", params=params)
        assert resp.status_code == 422, params
        assert resp.headers["content-type"].startswith("application/problem+json")
    repeated = published.get("/recommendations/u1?limit=2&limit=3").json()  # FastAPI: the last
    assert len(repeated["items"]) == 3
    unknown = published.get("/recommendations/u1", params={"strategy": "nope"})
    assert unknown.status_code == 422 and unknown.json()["instance"] == "/recommendations/u1"


def _served(client: TestClient) -> float:
    """GET /recommendations/{user_id} answered 200, as /metrics counts them."""
    labels = 'method="GET",route="/recommendations/{user_id}",status="200"'
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"shopflow_http_requests_total{{{labels}}}"):
            return float(line.rpartition(" ")[2])
    return 0.0


def test_lane_requests_are_counted_by_route(published: TestClient) -> None:
    before = _served(published)
    published.get("/recommendations/u1")
    published.get("/recommendations/u2")
    assert _served(published) == before + 2


def test_new_user_falls_back_to_trending_then_popular_in_the_same_trip(
    published: TestClient, redis_client
) -> None:
    redis_client.zadd(keys.TRENDING, {"i17": 9.0, "i2": 8.0, "i3": 7.0})  # i3 out of stock
    body = published.get("/recommendations/nobody", params={"limit": 4}).json()
    assert ids(body) == ["i17", "i2", "i20", "i19"]
    assert body["items"][0]["sources"] == ["trending"] and body["fallback"] is True
    assert body["sources"] == ["trending", "popularity"]


def test_a_category_without_its_popular_list_uses_the_global_one(published: TestClient) -> None:
    body = published.get("/recommendations/nobody", params={"limit": 2, "category": "shoes"})
    assert ids(body.json()) == ["i10", "i9"]  # global popular, shoes only


def test_exclusions_beyond_the_read_ahead_are_still_filled(published: TestClient) -> None:
    excluded = ",".join(f"i{n}" for n in range(1, 10))
    body = published.get("/recommendations/u1", params={"limit": 3, "exclude": excluded}).json()
    assert ids(body) == ["i10", "i11", "i12"]


async def _auth() -> int:
    return 1


def _things_app() -> tuple[FastAPI, APIRoute]:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    async def thing(
        thing_id: str, user: Annotated[int, Depends(_auth)], n: Annotated[int, Query(ge=1)] = 1
    ) -> dict[str, object]:
        return {"thing_id": thing_id, "n": n}

    route = next(r for r in app.routes if isinstance(r, APIRoute))
    return app, route


async def _answer(state: object, values: dict[str, object]) -> bytes:
    return b"{}"


def test_a_route_with_a_dependency_the_lane_lacks_gets_no_lane() -> None:
    app, route = _things_app()
    assert any("dependencies" in p for p in fastlane.Lane(route, _answer).problems(app))
    assert fastlane.Lane(route, _answer, frozenset({_auth})).problems(app) == []


def test_a_route_that_checks_credentials_gets_a_lane_only_with_an_authorizer() -> None:
    from serving import deps
    from serving.routers.recommendations import lane, router

    shipped = lane()
    assert shipped.authorize is not None
    app = FastAPI()
    app.include_router(router)
    unchecked = fastlane.Lane(shipped.route, shipped.handler, shipped.provides)
    assert deps.visitor_principal in unchecked.provides
    assert any("credential" in p for p in unchecked.problems(app))
    assert shipped.problems(app) == []


def test_the_lane_enforces_the_route_rule(published: TestClient) -> None:
    """Answered by the lane (valid parameters): the same 401 and 403 as the route."""
    missing = published.get("/recommendations/u1", headers={"Authorization": ""})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert published.get("/recommendations/u2", headers=auth("u1")).status_code == 403
    assert published.get("/recommendations/u1", headers=auth("u1")).status_code == 200
    assert published.get("/recommendations/anon-9", headers=auth("u1")).status_code == 200


def test_lane_values_follow_the_route_fields() -> None:
    _, route = _things_app()
    lane = fastlane.Lane(route, _answer, frozenset({_auth}))
    assert lane.values("/things/a", b"n=3") == {"thing_id": "a", "n": 3}
    assert lane.values("/things/a", b"") == {"thing_id": "a", "n": 1}
    assert lane.values("/things/a", b"n=0") is None  # FastAPI answers (422)
    assert lane.values("/things/a", b"n=1&n=2") is None
    assert lane.values("/things/a/b", b"") is None


def test_a_plugged_source_that_plans_its_reads_costs_no_extra_trip(
    published: TestClient, redis_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source is added in one place: its ``reads`` join the read-ahead."""
    editors_key = "sf:test:editors"

    class Editors:
        name = "editors"

        def reads(self, pub, query) -> list[Read]:  # noqa: ANN001
            return [Read.scored_list(editors_key, candidates=False)]

        async def fetch(self, store, pub, query):  # noqa: ANN001, ANN202
            return (await store.lists([editors_key]))[0]

    redis_client.set(editors_key, json.dumps([["i20", 1.0]]))
    monkeypatch.setattr(recs, "SOURCES", list(recs.SOURCES))
    recs.add_source(Editors())
    published.get("/recommendations/u1")  # publication cached, script loaded
    resp, sent = _watched(
        redis_client, lambda: published.get("/recommendations/u1", params={"limit": 3})
    )
    assert ids(resp.json()) == ["i1", "i20", "i6"]
    assert resp.json()["sources"] == ["batch", "editors"]
    assert sent == ["EVALSHA", "EVALSHA"]  # read-ahead, then i20's availability
