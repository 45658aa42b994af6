"""No review, wishlist, compare or media endpoint answers bad input with a 500."""

from __future__ import annotations

import pytest

from tests.serving.test_reviews_fixtures import ADMIN, auth, put_product

U = auth("u1")
LONG = "x" * 5000
BAD_REQUESTS = [
    ("POST", "/api/products/p1/reviews", {"rating": 0}, U),
    ("POST", "/api/products/p1/reviews", {"rating": 6}, U),
    ("POST", "/api/products/p1/reviews", {"rating": "5"}, U),
    ("POST", "/api/products/p1/reviews", {"rating": 4.5}, U),
    ("POST", "/api/products/p1/reviews", {"rating": None}, U),
    ("POST", "/api/products/p1/reviews", {"rating": 5, "title": LONG}, U),
    ("POST", "/api/products/p1/reviews", {"rating": 5, "body": LONG * 2}, U),
    ("POST", "/api/products/p1/reviews", {"rating": 5, "media_ids": ["m"] * 7}, U),
    ("POST", "/api/products/p1/reviews", {"rating": 5, "media_ids": ["nope"]}, U),
    ("POST", "/api/products/p1/reviews", {"rating": 5, "extra": 1}, U),
    ("POST", "/api/products/p1/reviews", [1, 2], U),
    ("POST", "/api/products/p1/reviews", "not json", U),
    ("POST", "/api/products/nope/reviews", {"rating": 5}, U),
    ("POST", "/api/products/p1/reviews", {"rating": 5}, {"Authorization": "Bearer junk"}),
    ("POST", "/api/products/" + "p" * 300 + "/reviews", {"rating": 5}, U),
    ("PATCH", "/api/reviews/nope", {"rating": 3}, U),
    ("PATCH", "/api/reviews/nope", {"rating": 9}, U),
    ("DELETE", "/api/reviews/nope", None, U),
    ("GET", "/api/reviews/nope", None, None),
    ("GET", "/api/products/p1/reviews?stars=0", None, None),
    ("GET", "/api/products/p1/reviews?stars=abc", None, None),
    ("GET", "/api/products/p1/reviews?sort=random", None, None),
    ("GET", "/api/products/p1/reviews?limit=0", None, None),
    ("GET", "/api/products/p1/reviews?limit=100000", None, None),
    ("GET", "/api/products/p1/reviews?cursor=%%%", None, None),
    ("GET", "/api/products/p1/reviews?cursor=WzEsMiwzXQ", None, None),
    ("GET", "/api/products/p1/reviews?sort=helpful&cursor=WyJ4IiwgIjIwMjQiLCAiaWQiXQ", None, None),
    ("GET", "/api/products/p1/reviews?verified=maybe", None, None),
    ("GET", "/api/products/nope/rating", None, None),
    ("PUT", "/api/reviews/nope/vote", {"direction": "up"}, U),
    ("PUT", "/api/reviews/nope/vote", {"direction": "sideways"}, U),
    ("PUT", "/api/reviews/nope/vote", {}, U),
    ("GET", "/api/admin/reviews?status=BOGUS", None, ADMIN),
    ("GET", "/api/admin/reviews?cursor=zzz", None, ADMIN),
    ("POST", "/api/admin/reviews/nope/approve", None, ADMIN),
    ("POST", "/api/admin/reviews/nope/reject", {"reason": ""}, ADMIN),
    ("POST", "/api/admin/reviews/nope/reject", {}, ADMIN),
    ("POST", "/api/admin/reviews/nope/reject", {"reason": "spam"}, ADMIN),
    ("GET", "/api/media/nope", None, None),
    ("GET", "/api/media/nope/thumbnail", None, U),
    ("POST", "/api/wishlists", {"name": ""}, U),
    ("POST", "/api/wishlists", {"name": "x" * 101}, U),
    ("POST", "/api/wishlists", {"name": 5}, U),
    ("POST", "/api/wishlists", {}, U),
    ("GET", "/api/wishlists/nope", None, U),
    ("PATCH", "/api/wishlists/nope", {"name": "a"}, U),
    ("DELETE", "/api/wishlists/nope", None, U),
    ("POST", "/api/wishlists/nope/items", {"product_id": "p1"}, U),
    ("POST", "/api/wishlists/nope/items", {"product_id": ""}, U),
    ("DELETE", "/api/wishlists/nope/items/p1", None, U),
    ("POST", "/api/wishlists/nope/share", None, U),
    ("GET", "/api/shared/wishlists/not-a-token", None, None),
    ("GET", "/api/compare", None, None),
    ("GET", "/api/compare?ids=", None, None),
    ("GET", "/api/compare?ids=p1", None, None),
    ("GET", "/api/compare?ids=p1,,,", None, None),
    ("GET", "/api/compare?ids=" + ",".join(["p"] * 200), None, None),
    ("GET", "/api/compare?ids=p1,nope", None, None),
    ("PUT", "/api/compare/list/nope", None, U),
    ("GET", "/api/compare/list", None, None),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def client(request, tmp_path_factory):
    """One app over one migrated database for the whole module (each case only reads or
    is refused, so the cases cannot disturb each other)."""
    from fastapi.testclient import TestClient

    from commerce.db import migrate, reset_engines
    from serving.app import create_app
    from shopflow import embedded
    from shopflow.config import get_settings
    from tests.conftest import SERVICE_ENV, _fresh_postgres_database

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHOPFLOW_HOME", str(tmp_path_factory.mktemp("bad-input")))
        for name in SERVICE_ENV:
            mp.delenv(name, raising=False)
        if request.param == "postgresql":
            server = request.getfixturevalue("postgres_server")
            mp.setenv("DATABASE_URL", _fresh_postgres_database(server))
        get_settings.cache_clear()
        reset_engines()
        settings = get_settings()
        migrate.upgrade(settings.sqlalchemy_url)
        try:
            with TestClient(create_app()) as test_client:
                put_product(test_client, "p1")
                yield test_client
        finally:
            reset_engines()
            embedded.stop_all(settings)
            get_settings.cache_clear()


@pytest.mark.parametrize(
    ("method", "url", "body", "headers"),
    BAD_REQUESTS,
    ids=[f"{m} {u[:60]} {str(b)[:30]}" for m, u, b, _ in BAD_REQUESTS],
)
def test_bad_input_gets_a_problem_not_a_500(client, method, url, body, headers) -> None:
    kwargs = {"headers": headers or {}}
    if isinstance(body, str):
        kwargs["content"] = body
        kwargs["headers"] = {**kwargs["headers"], "content-type": "application/json"}
    elif body is not None:
        kwargs["json"] = body
    response = client.request(method, url, **kwargs)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
