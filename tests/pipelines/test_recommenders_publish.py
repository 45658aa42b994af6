"""Publishing to a real Redis: versioned keys, one pointer flip, old versions expire."""

import json

from pipelines.publish import PublishBundle, current_version, publish, read_recs
from shopflow import keys


def _bundle(tag: str, users: int = 30) -> PublishBundle:
    return PublishBundle(
        recs={
            "champion": {f"u{u}": [(f"{tag}{u}", 1.0), ("bought", 0.5)] for u in range(users)},
            "als": {"u0": [("x", 0.9), ("nan", float("nan"))]},
        },
        similar={"i1": [("i2", 0.8)]},
        popular=[("i9", 10.0)],
        popular_by_category={"shoes": [("i2", 3.0)]},
        history={"u0": [("i1", 4.0), ("i2", 1.0)]},
        items={"i1": {"title": "Boot", "category": "shoes", "price_minor": 1999, "stock": 3}},
        purchased={"u0": {"bought"}},
        models={"champion": ("shopflow-serving", "3"), "als": ("shopflow-als", "7")},
    )


def test_publish_writes_a_complete_version_behind_the_pointer(redis_client):
    report = publish(redis_client, _bundle("a"), chunk_size=7)
    version = report.version
    assert current_version(redis_client) == version
    assert report.previous is None and report.keys_written > 30 and report.keys_per_s > 0
    assert read_recs(redis_client, "u1") == [("a1", 1.0), ("bought", 0.5)]
    assert read_recs(redis_client, "u0") == [("a0", 1.0)]  # bought item left out
    assert read_recs(redis_client, "u0", "als") == [("x", 0.9)]  # NaN never published
    assert json.loads(redis_client.get(keys.similar_items(version, "i1"))) == [["i2", 0.8]]
    assert json.loads(redis_client.get(keys.popular(version, "shoes"))) == [["i2", 3.0]]
    assert redis_client.zrange(keys.user_history(version, "u0"), 0, -1, withscores=True) == [
        ("i2", 1.0),
        ("i1", 4.0),
    ]
    assert redis_client.hgetall(keys.item_info("i1"))["price_minor"] == "1999"
    assert redis_client.smembers(keys.user_purchased("u0")) == {"bought"}
    meta = redis_client.hgetall(keys.publish_meta(version))
    assert meta["champion.model"] == "shopflow-serving" and meta["champion.version"] == "3"
    assert meta["als.version"] == "7" and meta["dropped_scores"] == "1"
    assert meta["users"] == "30" and "published_at" in meta


def test_readers_see_the_old_complete_version_until_one_flip(redis_client):
    first = publish(redis_client, _bundle("a"))
    seen: list[str] = []

    def reader(_: int) -> None:  # runs after each chunk of the second publish
        version = current_version(redis_client)
        seen.append(version)
        tag = "a" if version == first.version else "b"
        assert redis_client.hgetall(keys.publish_meta(version))  # always a complete version
        assert all(read_recs(redis_client, f"u{u}")[0][0] == f"{tag}{u}" for u in range(30))

    second = publish(redis_client, _bundle("b"), chunk_size=5, progress=reader)
    assert len(seen) > 3
    assert set(seen[:-1]) == {first.version}  # while writing: the old version
    assert seen[-1] == second.version  # after the one flip: the new one
    assert second.previous == first.version
    assert current_version(redis_client) == second.version
    assert read_recs(redis_client, "u3") == [("b3", 1.0), ("bought", 0.5)]


def test_old_versions_get_a_ttl_and_the_current_one_none(redis_client):
    first = publish(redis_client, _bundle("a"))
    second = publish(redis_client, _bundle("b"))
    old_key = keys.user_recs(first.version, "u1")
    assert 0 < redis_client.ttl(old_key) <= keys.OLD_VERSION_TTL_S
    assert 0 < redis_client.ttl(keys.publish_meta(first.version)) <= keys.OLD_VERSION_TTL_S
    assert redis_client.ttl(keys.user_recs(second.version, "u1")) == -1
    assert redis_client.smembers(keys.PUBLISH_VERSIONS) == {second.version}


def test_an_unfinished_publish_is_expired_by_the_next_one(redis_client):
    redis_client.sadd(keys.PUBLISH_VERSIONS, "crashed")
    redis_client.set(keys.user_recs("crashed", "u1"), "[]")
    publish(redis_client, _bundle("a"))
    assert redis_client.ttl(keys.user_recs("crashed", "u1")) > 0
