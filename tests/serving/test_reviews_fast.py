"""``GET /api/products/{product_id}/rating`` on the fast lane (``serving.fastlane``), over HTTP
on SQLite and PostgreSQL: the lane answers (as /metrics counts it, under the route template)
with the database's rating, cached or not, and leaves a parameter it does not take to FastAPI,
whose error is the route's own."""

from __future__ import annotations

from typing import Any

import pytest

from serving.routers import reviews
from tests.lane_spy import spy_on_handler
from tests.serving.test_reviews_cache import review, truth
from tests.serving.test_reviews_fixtures import ADMIN, put_product

ROUTE = "/api/products/{product_id}/rating"


@pytest.fixture
def lane_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    return spy_on_handler(monkeypatch, reviews, "_rating_fast")


def _served(client: Any) -> float:
    labels = f'method="GET",route="{ROUTE}",status="200"'
    for line in client.get("/metrics", headers=ADMIN).text.splitlines():
        if line.startswith(f"shopflow_http_requests_total{{{labels}}}"):
            return float(line.rpartition(" ")[2])
    return 0.0


def test_the_lane_serves_the_databases_rating(lane_calls: list, api_client: Any) -> None:
    put_product(api_client, "lane-p1")
    for n, stars in enumerate((5, 3, 4)):
        review(api_client, f"u{n}", "lane-p1", rating=stars)
    before = _served(api_client)
    cold = api_client.get("/api/products/lane-p1/rating")
    warm = api_client.get("/api/products/lane-p1/rating")  # from the cache
    assert cold.status_code == warm.status_code == 200
    assert cold.json() == warm.json() == truth("lane-p1")[0]
    assert cold.json()["count"] == 3
    assert [c["product_id"] for c in lane_calls] == ["lane-p1", "lane-p1"]
    assert _served(api_client) == before + 2


def test_a_parameter_the_lane_refuses_gets_the_routes_error(
    lane_calls: list, api_client: Any
) -> None:
    too_long = "p" * 129
    answer = api_client.get(f"/api/products/{too_long}/rating")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert lane_calls == []


@pytest.fixture
def listing_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    return spy_on_handler(monkeypatch, reviews, "_reviews_fast")


def test_the_listing_lane_serves_first_and_filtered_pages(
    listing_calls: list, api_client: Any
) -> None:
    put_product(api_client, "lane-p2")
    for n, stars in enumerate((5, 3, 4, 5)):
        review(api_client, f"w{n}", "lane-p2", rating=stars)
    first = api_client.get("/api/products/lane-p2/reviews?sort=helpful&limit=3")
    cached = api_client.get("/api/products/lane-p2/reviews?sort=helpful&limit=3")
    assert first.status_code == cached.status_code == 200
    assert first.json() == cached.json() == truth("lane-p2", sort="helpful", limit=3)[1]
    picked = api_client.get("/api/products/lane-p2/reviews?stars=5&stars=4")  # a list, repeated
    assert picked.status_code == 200
    assert sorted(r["rating"] for r in picked.json()["items"]) == [4, 5, 5]
    assert [c["stars"] for c in listing_calls] == [None, None, [5, 4]]
    assert listing_calls[0]["sort"] == "helpful" and listing_calls[0]["limit"] == 3


def test_parameters_the_listing_lane_refuses_get_the_routes_answer(
    listing_calls: list, api_client: Any
) -> None:
    put_product(api_client, "lane-p3")
    review(api_client, "v1", "lane-p3", rating=2)
    bad = api_client.get("/api/products/lane-p3/reviews?stars=9")
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    twice = api_client.get("/api/products/lane-p3/reviews?sort=newest&sort=rating_desc")
    assert twice.status_code == 200 and twice.json()["items"][0]["rating"] == 2  # FastAPI's
    assert listing_calls == []
