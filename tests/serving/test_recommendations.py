"""The recommendation API against a real Redis holding a hand-made published layout."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from commerce.auth import mint_token
from serving.recommendations import service as recs
from serving.routers.recommendations import Explanation, Recommendations, SimilarItems
from shopflow.config import Settings, get_settings
from shopflow.online_store import keys
from tests.experiments.helpers import use_experiments

SHOES = [f"i{n}" for n in range(1, 11)]  # i3 out of stock, i4 blocked (hash), i5 blocked (set)
HATS = [f"i{n}" for n in range(11, 21)]
CHAMPION_U1 = [f"i{n}" for n in range(1, 13)]  # i2 bought by u1


def publish(redis, version: str = "v1") -> None:
    """Write the publish layout the recommender pipeline writes (see shopflow.online_store.keys)."""
    for item in SHOES + HATS:
        n = int(item[1:])
        redis.hset(
            keys.item_info(item),
            mapping={
                "title": f"Item {n}",
                "category": "shoes" if item in SHOES else "hats",
                "brand": "Acme",
                "price_minor": 1000 + n,
                "currency": "EUR",
                "stock": 0 if item == "i3" else 5,
                "blocked": 1 if item == "i4" else 0,
            },
        )
    redis.sadd(keys.BLOCKED_ITEMS, "i5")
    redis.sadd(keys.user_purchased("u1"), "i2")

    def put(key: str, items: list[str], top: float = 1.0) -> None:
        redis.set(
            key, json.dumps([[item, round(top - i * 0.01, 4)] for i, item in enumerate(items)])
        )

    put(keys.user_recs(version, "u1"), CHAMPION_U1)
    put(keys.user_recs(version, "u1", "als"), ["i15", "i16"])
    put(keys.popular(version), list(reversed(SHOES + HATS)), top=100)
    put(keys.popular(version, "hats"), list(reversed(HATS)), top=50)
    redis.set(keys.similar_items(version, "i13"), json.dumps([["i3", 0.95], ["i1", 0.9]]))
    redis.set(keys.similar_items(version, "i14"), json.dumps([["i6", 0.7], ["i1", 0.5]]))
    redis.set(keys.similar_items(version, "i15"), json.dumps([["i6", 0.8]]))
    redis.zadd(keys.user_history(version, "u1"), {"i13": 3.0, "i14": 1.0, "i15": 2.0})
    redis.hset(
        keys.publish_meta(version),
        mapping={
            "published_at": "2024-03-02T00:00:00+00:00",
            "champion.model": "shopflow-recommender",
            "champion.version": "3",
            "als.model": "shopflow-als",
            "als.version": "2",
            "popularity.model": "shopflow-popularity",
            "popularity.version": "1",
        },
    )
    redis.set(keys.PUBLISH_POINTER, version)


@pytest.fixture
def client(
    shopflow_home: Settings, redis_server: str, redis_client, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    from serving.app import create_app

    monkeypatch.setenv("REDIS_URL", redis_server)
    get_settings.cache_clear()
    use_experiments(monkeypatch, shopflow_home.home_dir)  # the default strategy, unsplit
    with TestClient(create_app(), headers=auth("storefront", "service")) as test_client:
        yield test_client  # a server-side caller (service) by default; tests override per call


@pytest.fixture
def published(client: TestClient, redis_client) -> TestClient:
    publish(redis_client)
    return client


def ids(body: dict) -> list[str]:
    return [item["item_id"] for item in body["items"]]


def auth(user: str, role: str = "customer") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(user, [role])}"}


NO_AUTH = {"Authorization": ""}
"""Per-request headers that drop a client's default credential."""


def test_known_user_gets_published_list_with_model(published: TestClient) -> None:
    resp = published.get("/recommendations/u1", params={"limit": 5})
    assert resp.status_code == 200
    body = Recommendations.model_validate(resp.json()).model_dump()
    assert ids(body) == ["i1", "i6", "i7", "i8", "i9"]
    assert body["model"] == "shopflow-recommender" and body["model_version"] == "3"
    assert body["strategy"] == "champion" and body["published_version"] == "v1"
    assert body["sources"] == ["batch"] and body["fallback"] is False
    uuid.UUID(body["request_id"])
    first = body["items"][0]
    assert first["title"] == "Item 1" and first["category"] == "shoes"
    assert (first["price_minor"], first["currency"]) == (1001, "EUR")
    assert first["score"] == 1.0 and first["sources"] == ["batch"]
    again = published.get("/recommendations/u1", params={"limit": 5}).json()
    assert again["request_id"] != body["request_id"]


def test_bought_out_of_stock_and_blocked_never_appear_and_limit_is_filled(
    published: TestClient,
) -> None:
    body = published.get("/recommendations/u1", params={"limit": 100}).json()
    assert not {"i2", "i3", "i4", "i5"} & set(ids(body))
    assert len(ids(body)) == len(set(ids(body))) == 16  # every showable item, once
    assert ids(body)[:8] == ["i1", "i6", "i7", "i8", "i9", "i10", "i11", "i12"]
    assert body["sources"] == ["batch", "popularity"]  # backfilled
    assert body["items"][8]["sources"] == ["popularity"]
    assert body["fallback"] is False


def test_category_filter_backfills_from_category_popularity(published: TestClient) -> None:
    body = published.get("/recommendations/u1", params={"limit": 4, "category": "hats"}).json()
    assert ids(body) == ["i11", "i12", "i20", "i19"]
    assert {item["category"] for item in body["items"]} == {"hats"}


def test_diversity_cap_and_exclude(published: TestClient) -> None:
    capped = published.get("/recommendations/u1", params={"limit": 4, "max_per_category": 2})
    assert ids(capped.json()) == ["i1", "i6", "i11", "i12"]
    counts = Counter(item["category"] for item in capped.json()["items"])
    assert max(counts.values()) <= 2
    excluded = published.get("/recommendations/u1", params={"limit": 3, "exclude": "i1, i6"})
    assert ids(excluded.json()) == ["i7", "i8", "i9"]


def test_unknown_user_gets_popularity_fallback(published: TestClient) -> None:
    body = published.get("/recommendations/nobody", params={"limit": 3}).json()
    assert ids(body) == ["i20", "i19", "i18"]
    assert body["fallback"] is True and "no history" in body["fallback_reason"]
    assert body["sources"] == ["popularity"]
    assert (body["model"], body["model_version"]) == ("shopflow-popularity", "1")


def test_strategy_selects_the_published_model_type(published: TestClient) -> None:
    body = published.get("/recommendations/u1", params={"limit": 3, "strategy": "als"}).json()
    assert ids(body)[:2] == ["i15", "i16"] and body["sources"] == ["batch", "popularity"]
    assert (body["model"], body["model_version"]) == ("shopflow-als", "2")
    unknown = published.get("/recommendations/u1", params={"strategy": "nope"})
    assert unknown.status_code == 422 and "champion" in unknown.json()["detail"]


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_bad_limit_is_a_422_problem(published: TestClient, limit: str) -> None:
    resp = published.get("/recommendations/u1", params={"limit": limit})
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["detail"].startswith("query.limit:")


def test_similar_items_and_unknown_item(published: TestClient) -> None:
    body = published.get("/items/i13/similar").json()
    SimilarItems.model_validate(body)
    assert ids(body) == ["i1"] and body["fallback"] is False  # i3 is out of stock
    assert body["items"][0]["score"] == 0.9
    lonely = published.get("/items/i12/similar", params={"limit": 2}).json()
    assert lonely["fallback"] is True and ids(lonely) == ["i20", "i19"]  # its category's best
    missing = published.get("/items/nope/similar")
    assert missing.status_code == 404 and "'nope'" in missing.json()["detail"]
    assert missing.json()["item_id"] == "nope"


def test_explain_names_neighbours_from_history(published: TestClient) -> None:
    url = "/users/u1/recommendations/explain"
    resp = published.get(url, params={"item_id": "i1"}, headers=auth("u1"))
    assert resp.status_code == 200
    body = Explanation.model_validate(resp.json()).model_dump()
    assert [(b["item_id"], b["interaction_weight"], b["similarity"]) for b in body["because"]] == [
        ("i13", 3.0, 0.9),
        ("i14", 1.0, 0.5),
    ]
    assert body["because"][0]["title"] == "Item 13"
    assert body["sources"] == ["batch"] and body["batch_rank"] == 1 and body["recommended"]
    bought = published.get(url, params={"item_id": "i2"}, headers=auth("admin", "admin")).json()
    assert bought["filtered_by"] == "already bought" and bought["recommended"] is False
    assert published.get(url, params={"item_id": "i1"}, headers=NO_AUTH).status_code == 401
    assert published.get(url, params={"item_id": "i1"}, headers=auth("u2")).status_code == 403
    missing = published.get(url, params={"item_id": "nope"}, headers=auth("u1"))
    assert missing.status_code == 404 and "'nope'" in missing.json()["detail"]


def test_a_disliked_item_is_never_shown_and_explained_as_disliked(
    published: TestClient, redis_client
) -> None:
    redis_client.sadd(keys.user_disliked("u1"), "i6")
    assert "i6" not in ids(published.get("/recommendations/u1", params={"limit": 100}).json())
    url = "/users/u1/recommendations/explain"
    body = published.get(url, params={"item_id": "i6"}, headers=auth("u1")).json()
    assert body["filtered_by"] == "disliked" and body["recommended"] is False
    assert "i6" in ids(published.get("/recommendations/u2", params={"limit": 100}).json())


def test_docs_list_the_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/recommendations/{user_id}",
        "/items/{item_id}/similar",
        "/users/{user_id}/recommendations/explain",
    ):
        assert path in paths and paths[path]["get"]["summary"]
    assert "swagger" in client.get("/docs").text.lower()


def test_503_until_something_is_published(client: TestClient, redis_client) -> None:
    for url in (
        "/recommendations/u1",
        "/items/i1/similar",
        "/users/u1/recommendations/explain?item_id=i1",
    ):
        resp = client.get(url, headers=auth("u1"))
        assert resp.status_code == 503, url
        assert resp.json()["detail"] == recs.NOT_PUBLISHED
    publish(redis_client)
    client.app.state.clients.online_store.forget_publication()  # skip the 1 s pointer cache
    assert client.get("/recommendations/u1").status_code == 200


def test_a_new_publish_version_is_served_after_the_pointer_flip(
    published: TestClient, redis_client
) -> None:
    assert published.get("/recommendations/u1").json()["published_version"] == "v1"
    publish(redis_client, "v2")
    published.app.state.clients.online_store.forget_publication()
    assert published.get("/recommendations/u1").json()["published_version"] == "v2"


def test_merge_keeps_every_source_of_an_item() -> None:
    merged = recs.merge([("batch", [("a", 3.0), ("b", 2.0)]), ("recent", [("b", 9.0), ("c", 1.0)])])
    assert [(c.item_id, c.score, c.sources) for c in merged] == [
        ("a", 3.0, ["batch"]),
        ("b", 9.0, ["recent", "batch"]),
        ("c", 1.0, ["recent"]),
    ]


def test_a_plugged_source_is_merged_with_attribution(
    published: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Recent:
        name = "recent"

        async def fetch(self, store, pub, query):
            return [("i20", 5.0), ("i1", 4.0)]

    monkeypatch.setattr(recs, "SOURCES", list(recs.SOURCES))
    recs.add_source(Recent())
    body = published.get("/recommendations/u1", params={"limit": 3}).json()
    assert ids(body) == ["i1", "i20", "i6"]
    assert body["items"][0]["sources"] == ["batch", "recent"]
    assert body["sources"] == ["batch", "recent"]
