"""Publishing to a real Redis: versioned keys, one pointer flip, old versions expire."""

import json
import threading

import numpy as np
import pytest

from pipelines import publish as publish_module
from pipelines.publish import (
    PublishBundle,
    PublishLockedError,
    RankedLists,
    current_version,
    publish,
    read_recs,
)
from shopflow.online_store import keys


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


def _every_key(redis_client, version: str) -> set[str]:
    return set(redis_client.scan_iter(keys.version_pattern(version), count=1000))


def _scans(redis_client) -> int:
    return int(redis_client.info("commandstats").get("cmdstat_scan", {}).get("calls", 0))


def test_an_old_version_is_expired_through_its_index_without_scanning(redis_client):
    trips: list[int] = []
    first = publish(redis_client, _bundle("a"), chunk_size=7, progress=trips.append)
    written = _every_key(redis_client, first.version)
    # one index entry per round trip at most, however small the batches (a key per category)
    assert redis_client.llen(keys.version_index(first.version)) <= len(trips) - 1
    assert keys.user_history(first.version, "u0") in written  # not only the lists
    assert {keys.publish_meta(first.version), keys.version_index(first.version)} <= written
    scans = _scans(redis_client)
    publish(redis_client, _bundle("b"), chunk_size=7)
    assert _scans(redis_client) == scans  # no walk over the keyspace
    assert all(0 < redis_client.ttl(k) <= keys.OLD_VERSION_TTL_S for k in written)


def test_a_version_published_without_an_index_is_expired_by_scan(redis_client):
    first = publish(redis_client, _bundle("a"))
    redis_client.hdel(keys.publish_meta(first.version), "indexed")  # as an older Shopflow wrote
    redis_client.delete(keys.version_index(first.version))
    written = _every_key(redis_client, first.version)
    publish(redis_client, _bundle("b"))
    assert all(0 < redis_client.ttl(k) <= keys.OLD_VERSION_TTL_S for k in written)


def test_an_unfinished_publish_is_expired_by_the_next_one(redis_client):
    redis_client.sadd(keys.PUBLISH_VERSIONS, "crashed")
    redis_client.set(keys.user_recs("crashed", "u1"), "[]")
    publish(redis_client, _bundle("a"))
    assert redis_client.ttl(keys.user_recs("crashed", "u1")) > 0


def _ranked() -> RankedLists:
    items = np.array(["a", 'say "hi"', "ünï", "d"], dtype=object)
    idx = np.array([[0, 1, 2], [3, 0, -1], [-1, -1, -1], [2, 3, 1]])
    scores = np.array([[0.9, 0.5, 0.25], [1.0, np.nan, 0.0], [0, 0, 0], [3.0, 2.0, 1.0]])
    return RankedLists(["u0", "u1", "u2", "u3"], items, idx, scores.astype(np.float32))


def test_array_lists_publish_the_same_json_as_python_lists(redis_client):
    ranked = _ranked()
    purchased = {"u3": {"d"}}
    by_arrays = publish(redis_client, PublishBundle(recs={"als": ranked}, purchased=purchased))
    as_dict = ranked.as_dict()
    by_lists = publish(redis_client, PublishBundle(recs={"als": as_dict}, purchased=purchased))
    for user in ("u0", "u1", "u3"):
        one = redis_client.get(keys.user_recs(by_arrays.version, user, "als"))
        two = redis_client.get(keys.user_recs(by_lists.version, user, "als"))
        assert json.loads(one) == json.loads(two), user
    assert read_recs(redis_client, "u0", "als") == [("a", 0.9), ('say "hi"', 0.5), ("ünï", 0.25)]
    assert read_recs(redis_client, "u1", "als") == [("d", 1.0)]  # NaN dropped, padding ignored
    assert read_recs(redis_client, "u3", "als") == [("ünï", 3.0), ('say "hi"', 1.0)]  # bought
    assert read_recs(redis_client, "u2", "als") is None  # an empty row is not published
    assert by_arrays.dropped_scores == 1 and by_arrays.users == 3


def test_lists_longer_than_one_encoding_slice_publish_every_row(redis_client, monkeypatch):
    """Array lists are encoded in slices of ``ENCODE_ROWS`` rows ahead of the writes: every
    row of every slice lands once, under its own owner, with its owner's exclusions."""
    monkeypatch.setattr(publish_module, "ENCODE_ROWS", 7)
    rng = np.random.default_rng(3)
    n_users, n_items = 40, 12
    idx = rng.integers(-1, n_items, (n_users, 5))
    idx[9] = -1  # an empty row inside the second slice
    scores = np.sort(rng.random((n_users, 5)), axis=1)[:, ::-1]
    ranked = RankedLists([f"u{u}" for u in range(n_users)], [f"i{i}" for i in range(n_items)],
                         idx, scores)  # fmt: skip
    purchased = {"u8": {f"i{i}" for i in range(0, n_items, 2)}, "u33": {"i1"}}
    report = publish(redis_client, PublishBundle(recs={"als": ranked}, purchased=purchased),
                     chunk_size=5)  # fmt: skip
    expected = ranked.as_dict()
    for user, bought in purchased.items():
        expected[user] = [(i, s) for i, s in expected[user] if i not in bought]
    expected = {u: recs for u, recs in expected.items() if recs}
    assert report.users == len(expected) and "u9" not in expected
    for user in ranked.owners:
        got = read_recs(redis_client, user, "als")
        want = [(i, round(s, 6)) for i, s in expected[user]] if user in expected else None
        assert got == want, user


def test_blocked_is_written_0_or_1_and_an_admin_block_is_never_undone(redis_client):
    redis_client.sadd(keys.BLOCKED_ITEMS, "i2")
    items = {
        "i1": {"title": "Boot", "blocked": True},
        "i2": {"title": "Sock", "blocked": False},  # catalog says no, the admin said yes
        "i3": {"title": "Hat", "price_minor": float("nan")},  # no flag: not blocked
    }
    publish(redis_client, PublishBundle(items=items))
    publish(redis_client, PublishBundle(items=items))  # a later publish changes nothing
    blocked = {i: redis_client.hget(keys.item_info(i), "blocked") for i in items}
    assert blocked == {"i1": "1", "i2": "1", "i3": "0"}
    assert redis_client.hget(keys.item_info("i3"), "price_minor") == ""
    assert redis_client.smembers(keys.BLOCKED_ITEMS) == {"i2"}  # the admins' set untouched


def test_a_second_publish_waits_for_the_lock_or_fails_clearly(redis_client):
    attempts: list[str] = []

    def concurrent(_: int) -> None:  # runs after each chunk while the first one writes
        if attempts:
            return
        assert 0 < redis_client.pttl(keys.PUBLISH_LOCK) <= keys.PUBLISH_LOCK_TTL_S * 1000
        with pytest.raises(PublishLockedError, match="another publish holds"):
            publish(redis_client, _bundle("b"), lock_wait_s=0)
        attempts.append("refused")

    first = publish(redis_client, _bundle("a"), chunk_size=10, progress=concurrent)
    assert attempts == ["refused"]
    assert current_version(redis_client) == first.version
    assert redis_client.smembers(keys.PUBLISH_VERSIONS) == {first.version}
    assert redis_client.get(keys.PUBLISH_LOCK) is None  # released


def test_concurrent_publishes_never_expire_the_current_version(redis_client):
    reports: list = []
    errors: list[BaseException] = []

    def run(tag: str) -> None:
        try:
            reports.append(publish(redis_client, _bundle(tag, users=300), chunk_size=20))
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(tag,)) for tag in "abc"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(reports) == 3
    current = current_version(redis_client)
    assert current in {r.version for r in reports}
    assert redis_client.smembers(keys.PUBLISH_VERSIONS) == {current}
    for user in range(300):
        assert redis_client.ttl(keys.user_recs(current, f"u{user}")) == -1
    assert redis_client.ttl(keys.publish_meta(current)) == -1


def test_a_publish_that_lost_its_lock_does_not_flip(redis_client):
    first = publish(redis_client, _bundle("a"))

    def steal(_: int) -> None:
        redis_client.set(keys.PUBLISH_LOCK, "someone-else")

    with pytest.raises(PublishLockedError, match="lost the publish lock"):
        publish(redis_client, _bundle("b"), chunk_size=10, progress=steal)
    assert current_version(redis_client) == first.version
    assert redis_client.get(keys.PUBLISH_LOCK) == "someone-else"  # not ours to release


def test_disliked_items_get_their_own_set_and_stay_out_of_the_lists(redis_client):
    ranked = _ranked()
    bundle = PublishBundle(recs={"als": ranked}, purchased={"u3": {"d"}}, disliked={"u0": {"a"}})
    publish(redis_client, bundle)
    assert read_recs(redis_client, "u0", "als") == [('say "hi"', 0.5), ("ünï", 0.25)]
    assert redis_client.smembers(keys.user_disliked("u0")) == {"a"}
    assert redis_client.smembers(keys.user_purchased("u3")) == {"d"}
    assert not redis_client.exists(keys.user_purchased("u0"), keys.user_disliked("u3"))
