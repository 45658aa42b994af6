"""The keys of one user (export reads them, erasure deletes them), on a real Redis: every
published version still present, rate buckets, and never the keys of a look-alike id."""

from __future__ import annotations

from commerce.privacy.export import owned_keys
from shopflow.online_store import keys


def test_owned_keys_cover_every_version_and_only_this_user(redis_client) -> None:
    mine = [
        keys.user_recs("20261201T000000000000Z", "u1"),
        keys.user_recs("20261130T000000000000Z", "u1", "als"),  # an old version on its TTL
        keys.user_history("20261201T000000000000Z", "u1"),
        keys.review_rate("u1", 123),
        keys.user_features("u1"),
        keys.review_submissions("u1"),
    ]
    others = [
        keys.user_recs("20261201T000000000000Z", "a:u1"),
        keys.user_history("20261201T000000000000Z", "x:u1"),
        keys.review_rate("u1:x", 123),
        keys.user_features("u10"),
    ]
    for key in mine + others:
        redis_client.set(key, "1")
    assert owned_keys(redis_client, "u1") == sorted(mine)
    assert owned_keys(redis_client, "u*") == []  # glob characters in ids match literally
