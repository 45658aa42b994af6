"""Every online-store value round-trips through ``shopflow.online_store.codec``, through a real
Redis where the server shapes the reply; the writers (publisher, features consumer) use it."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import redis

from pipelines.publish import RankedLists, ranked_json
from shopflow.online_store import codec, keys


def test_item_hash_round_trips_through_redis(redis_client: redis.Redis) -> None:
    info = {
        "title": 'Mug "ünï"',
        "category": "kitchen",
        "brand": "",
        "price_minor": 1999.0,  # a data frame's float column
        "currency": "EUR",
        "stock": np.int64(3),
        "blocked": "yes",
        "colour": "ignored",
    }
    fields = codec.encode_item(info)
    assert fields["price_minor"] == "1999" and fields["blocked"] == "1" and "colour" not in fields
    redis_client.hset(keys.item_info("m1"), mapping=fields)
    values = redis_client.hmget(keys.item_info("m1"), codec.ITEM_FIELDS)
    item = codec.decode_item("m1", values)
    assert item == codec.ItemInfo("m1", 'Mug "ünï"', "kitchen", "", 1999, "EUR", 3, True)
    assert item.in_stock


def test_item_hash_missing_values_and_flags() -> None:
    fields = codec.encode_item({"title": None, "stock": float("nan"), "blocked": np.bool_(False)})
    assert fields == {"title": "", "stock": "", "blocked": "0"}
    assert codec.encode_item({"blocked": True}, blocked=False)["blocked"] == "0"
    assert "blocked" not in codec.encode_item({"stock": 0})  # a catalog event leaves it alone
    item = codec.decode_item("x", ["", None, None, "", None, "0", "0"])
    assert item is not None and item.price_minor is None and not item.in_stock
    assert codec.decode_item("gone", [None] * len(codec.ITEM_FIELDS)) is None


def test_scored_lists_round_trip_and_drop_non_finite_scores() -> None:
    items = [("a", 0.1234567891), ('say "hi"', 2), ("nan", math.nan), ("bought", 0.5)]
    raw, dropped = codec.encode_scored(items, exclude={"bought"})
    assert dropped == 1
    assert codec.decode_scored(raw) == [("a", 0.123457), ('say "hi"', 2.0)]
    assert codec.decode_scored(None) is None
    assert codec.decode_scored(codec.encode_scored([])[0]) == []


def test_the_bulk_encoder_writes_what_encode_scored_writes() -> None:
    """``codec.encode_scored_rows`` (the publisher's bulk path) decodes like ``encode_scored``;
    padding rows are skipped, ``drop`` leaves entries out."""
    item_ids = ["a", 'say "ünï"']
    idx = np.array([[1, 0], [-1, -1], [0, -1], [0, 1]])
    scores = np.array([[0.9876543, 0.5], [0.0, 0.0], [math.inf, 0.0], [2.0, 1.0]])
    drop = np.array([[False, False], [False, False], [False, False], [False, True]])
    rows, values, dropped = codec.encode_scored_rows(item_ids, idx, scores, drop)
    assert rows.tolist() == [0, 2, 3] and dropped == 1
    expected = [
        codec.encode_scored([('say "ünï"', 0.9876543), ("a", 0.5)])[0],
        codec.encode_scored([])[0],
        codec.encode_scored([("a", 2.0)])[0],
    ]
    assert [codec.decode_scored(v) for v in values] == [codec.decode_scored(e) for e in expected]


def test_the_publisher_excludes_an_owners_items_in_bulk() -> None:
    lists = RankedLists(
        owners=["u0", "u1"],
        item_ids=np.array(["a", "b"], dtype=object),
        idx=np.array([[1, 0], [0, 1]]),
        scores=np.array([[0.9, 0.5], [0.8, 0.1]]),
    )
    owners, values, dropped = ranked_json(lists, exclude={"u1": {"a"}, "nobody": {"b"}})
    assert owners == ["u0", "u1"] and dropped == 0
    assert [codec.decode_scored(v) for v in values] == [[("b", 0.9), ("a", 0.5)], [("b", 0.1)]]


def test_sorted_sets_decode_from_client_rows_and_script_replies(
    redis_client: redis.Redis,
) -> None:
    for key in (keys.TRENDING, keys.user_recent_items("u1"), keys.coviews("i1")):
        redis_client.zadd(key, {"i2": 3.5, "i3": 1.0})
        rows = redis_client.zrevrange(key, 0, -1, withscores=True)
        assert codec.decode_zset(rows) == [("i2", 3.5), ("i3", 1.0)]
        flat = redis_client.eval(
            "return redis.call('ZREVRANGE', KEYS[1], 0, -1, 'WITHSCORES')", 1, key
        )
        assert codec.decode_flat_zset(flat) == [("i2", 3.5), ("i3", 1.0)]


def test_user_features_round_trip_through_redis(redis_client: redis.Redis) -> None:
    features = codec.UserFeatures(cart={"i1": 2, "ü": 1}, affinity=[("toys", 3.25), ("mugs", 0.5)])
    key = keys.user_features("u1")
    redis_client.hset(key, mapping=codec.encode_user_features(features))
    redis_client.hset(key, mapping={"s:sess1": codec.encode_session(["i1"], 1700000000), "nr": 1})
    assert codec.decode_user_features(redis_client.hgetall(key)) == features


def test_session_views_round_trip() -> None:
    assert codec.decode_session(codec.encode_session(["a", "ü"])) == (None, ["a", "ü"])
    assert codec.decode_session(codec.encode_session(["a"], 1700000000)) == (1700000000, ["a"])
    assert codec.decode_session(b'1700000000 ["x","y"]') == (1700000000, ["x", "y"])


@pytest.mark.parametrize("name", ["keys", "codec"])
def test_the_online_store_imports_nothing_outside_the_core(name: str) -> None:
    code = (
        f"import sys, shopflow.online_store.{name}; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'serving', 'pipelines', 'commerce', 'models', 'cli', 'warehouse'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
