"""The Redis read cache of ratings and first listing pages (a hit reads only the cache
versions from the database, reads after any change are fresh, an entry older than the
database is never served), the Redis-backed spam rules, and media clean-up on
removal; over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import pytest
from sqlalchemy import event

from commerce import cache_versions
from commerce.db import get_engine, session_scope
from commerce.reviews import cache as reviews_cache
from commerce.reviews import listing, local_cache
from commerce.reviews import reads as reviews_reads
from commerce.reviews.ratings import product_rating
from shopflow.config import get_settings
from shopflow.online_store import keys
from tests.serving.test_reviews_fixtures import (
    ADMIN,
    auth,
    jpeg_bytes,
    place_order,
    put_product,
    set_order_status,
)


@contextmanager
def count_sql() -> Iterator[list[str]]:
    """The statements run meanwhile, through the engine or by the inline version reader
    (``cache_versions.read_async`` on SQLite reads on its own connection)."""
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        statements.append(statement)

    inline = cache_versions._read_sqlite

    def read_inline(engine, names):  # noqa: ANN001, ANN202
        statements.append("SELECT name, version FROM cache_versions (inline)")
        return inline(engine, names)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    cache_versions._read_sqlite = read_inline
    try:
        yield statements
    finally:
        cache_versions._read_sqlite = inline
        event.remove(engine, "before_cursor_execute", record)


def review(client, user: str, product: str, rating: int = 4, approve: bool = True, **body):
    made = client.post(
        f"/api/products/{product}/reviews",
        json={"rating": rating, "body": body.pop("body", f"My honest take, {user}"), **body},
        headers=auth(user),
    )
    assert made.status_code == 201, made.text
    if approve:
        client.post(f"/api/admin/reviews/{made.json()['id']}/approve", headers=ADMIN)
    return made.json()["id"]


def truth(product: str, sort: str = "newest", limit: int = 20) -> tuple[dict, dict]:
    """The rating and first page as the database has them right now."""
    with session_scope() as session:
        page = listing.list_product_reviews(session, product, sort=sort, limit=limit)
        return product_rating(session, product), json.loads(reviews_reads.dumps(page))


def served(client, product: str, sort: str = "newest") -> tuple[dict, dict]:
    return (
        client.get(f"/api/products/{product}/rating").json(),
        client.get(f"/api/products/{product}/reviews?sort={sort}").json(),
    )


def version(product: str) -> int:
    with session_scope() as session:
        return cache_versions.current(session, [reviews_cache.product_version(product)])[0]


def test_cache_hits_read_only_the_versions(api_client) -> None:
    put_product(api_client, "p1")
    review(api_client, "a", "p1", rating=5)
    first = served(api_client, "p1")  # misses: read the database and fill
    with count_sql() as statements:
        again = served(api_client, "p1")
    assert len(statements) == 2 and all("cache_versions" in s for s in statements)
    assert again == first == truth("p1")
    with count_sql() as statements:  # another sort is another entry: one miss, then hits
        assert api_client.get("/api/products/p1/reviews?sort=helpful").status_code == 200
    assert statements != []
    redis = reviews_cache.sync_client()
    assert set(redis.hgetall(keys.review_cache("p1"))) == {"page:newest:20", "page:helpful:20"}
    label, _, value = redis.get(keys.review_rating_cache("p1")).partition("|")
    assert label == str(version("p1")) and json.loads(value)["count"] == 1
    # filtered or later pages always read the database
    with count_sql() as statements:
        assert api_client.get("/api/products/p1/reviews?verified=true").status_code == 200
    assert statements != []
    assert api_client.get("/api/products/nope/rating").status_code == 404


def test_cached_reads_follow_every_change(api_client) -> None:
    for pid in ("p1", "p2"):
        put_product(api_client, pid)
    a = review(api_client, "a", "p1", rating=5)
    pending = review(api_client, "b", "p1", rating=1, approve=False)
    order = place_order(api_client, "a", ["p1"])

    def fresh() -> None:
        for sort in ("newest", "helpful"):
            assert served(api_client, "p1", sort) == truth("p1", sort)

    fresh()
    api_client.post(f"/api/admin/reviews/{pending}/approve", headers=ADMIN)
    fresh()
    api_client.put(f"/api/reviews/{a}/vote", json={"direction": "up"}, headers=auth("x"))
    fresh()
    set_order_status(order, "PAID")  # the verified badge changes through the orders service
    fresh()
    assert served(api_client, "p1")[1]["items"][-1]["verified_purchase"] is True
    review(api_client, "c", "p2", rating=1)  # moves the catalog prior of every product
    fresh()
    api_client.patch(f"/api/reviews/{a}", json={"body": "Changed my mind"}, headers=auth("a"))
    fresh()
    api_client.post(f"/api/admin/reviews/{pending}/reject", json={"reason": "rude"}, headers=ADMIN)
    fresh()
    assert served(api_client, "p1")[0]["count"] == 0


def test_bodies_in_memory_are_served_only_under_the_current_versions(api_client) -> None:
    """The first level: a body this process served is answered from its memory (Redis
    emptied and not refilled), and never once the database's versions moved."""
    put_product(api_client, "p1")
    review(api_client, "a", "p1", rating=5)
    first = served(api_client, "p1")
    redis = reviews_cache.sync_client()
    redis.delete(keys.review_cache("p1"), keys.review_rating_cache("p1"))
    with count_sql() as statements:
        assert served(api_client, "p1") == first
    assert len(statements) == 2 and all("cache_versions" in s for s in statements)  # each time
    assert not redis.exists(keys.review_cache("p1"), keys.review_rating_cache("p1"))
    review(api_client, "b", "p1", rating=1)
    assert served(api_client, "p1") == truth("p1") and truth("p1")[0]["count"] == 2


def test_the_memory_level_keeps_the_latest_bodies_within_its_bytes() -> None:
    bodies = local_cache.LocalBodies(max_bytes=10)
    bodies.put("a", b"1234")
    bodies.put("b", b"5678")
    assert bodies.get("a") == b"1234"  # now the latest used
    bodies.put("c", b"90ab")  # over 10 bytes: the least recently used ("b") goes
    assert bodies.get("b") is None and bodies.get("a") == b"1234" and bodies.size == 8
    bodies.put("huge", b"x" * 11)  # larger than the whole budget: not kept
    assert bodies.get("huge") is None and len(bodies) == 2


def test_an_entry_older_than_the_database_is_not_served(api_client) -> None:
    """As after a lost invalidation, a fill that raced a write, or a Redis restored from an
    older snapshot: the entries come back, the versions in the database have moved on."""
    put_product(api_client, "p1")
    review(api_client, "a", "p1", rating=5)
    served(api_client, "p1")
    redis = reviews_cache.sync_client()
    stale_page = redis.hgetall(keys.review_cache("p1"))
    stale_rating = redis.get(keys.review_rating_cache("p1"))
    review(api_client, "b", "p1", rating=1)
    redis.hset(keys.review_cache("p1"), mapping=stale_page)
    redis.set(keys.review_rating_cache("p1"), stale_rating)
    assert served(api_client, "p1") == truth("p1")
    assert served(api_client, "p1")[0]["count"] == 2


def test_same_text_from_other_accounts_and_bursts_are_caught(api_client) -> None:
    get_settings().review_burst_count = 3
    for pid in ("p1", "p2", "p3", "p4"):
        put_product(api_client, pid)
    text = "Honestly the best purchase I made this year"
    first = review(api_client, "u1", "p1", approve=False, body=text)
    own_edit = api_client.patch(f"/api/reviews/{first}", json={"rating": 5}, headers=auth("u1"))
    assert own_edit.status_code == 200  # the author's own text again is no repeat
    copy = review(api_client, "u2", "p2", approve=False, body=text.upper().replace(" ", "  "))
    burst = [review(api_client, "u3", p, approve=False) for p in ("p1", "p2", "p3")]
    queue = {
        r["id"]: r["rule_hits"]
        for r in api_client.get("/api/admin/reviews?limit=100", headers=ADMIN).json()["items"]
    }
    assert "repeated_text" in queue[copy] and "repeated_text" not in queue[first]
    assert [("burst" in queue[r]) for r in burst] == [False, False, True]


def test_removing_a_review_deletes_its_media_files(api_client) -> None:
    put_product(api_client, "p1")
    media = api_client.post(
        "/api/media", files={"file": ("shoe.jpg", jpeg_bytes(), "image/jpeg")}, headers=auth("u1")
    ).json()
    rid = review(api_client, "u1", "p1", media_ids=[media["id"]])
    stored = [p for p in api_client.app.state.clients.settings.media_dir.rglob("*") if p.is_file()]
    assert len(stored) == 2  # the file and its thumbnail
    assert api_client.delete(f"/api/reviews/{rid}", headers=auth("u1")).status_code == 204
    assert [p for p in stored if p.exists()] == []
    assert api_client.get(f"/api/media/{media['id']}", headers=auth("u1")).status_code == 404
    assert api_client.get(f"/api/reviews/{rid}", headers=auth("u1")).json()["media"] == []


@pytest.mark.parametrize("outcome", ["rollback", "commit"])
def test_cache_and_files_wait_for_the_outer_commit(api_client, outcome: str) -> None:
    from commerce.reviews import service as svc
    from commerce.reviews.media import discard_for

    put_product(api_client, "p1")
    rid = review(api_client, "u1", "p1")
    served(api_client, "p1")
    before = version("p1")
    marker = api_client.app.state.clients.settings.media_dir / "kept.bin"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_bytes(b"x")
    expected = pytest.raises(RuntimeError) if outcome == "rollback" else nullcontext()
    with expected, session_scope() as session:
        with session.begin_nested():
            r = svc.get_review(session, rid)
            r.helpful_up = 7
        discard_for(session, r)  # no media: nothing scheduled
        reviews_cache.after_commit_call(session, lambda: marker.unlink())
        if outcome == "rollback":
            raise RuntimeError("abort")
    assert marker.exists() == (outcome == "rollback")
    with session_scope() as session:
        stored = svc.get_review(session, rid).helpful_up
    # the version commits with the change, in its transaction (pysqlite's legacy transaction
    # handling commits a savepoint's release when no BEGIN preceded it: then both stay)
    assert (version("p1") != before) == (stored == 7)
    if outcome == "commit":
        assert stored == 7
