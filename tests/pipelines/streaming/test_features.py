"""The features consumer against the real broker and Redis: exact counters, crash safety,
dead letters, lag."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from confluent_kafka import Consumer

from pipelines.streaming.features import REBASE_HALF_LIVES, FeaturesProcessor
from pipelines.streaming.runner import ConsumerRunner
from pipelines.streaming.status import group_lag
from shopflow import events, topics
from shopflow.online_store import codec, keys
from shopflow.online_store.codec import decode_user_features

from . import expected
from .conftest import produce_plain, shop_events


def _seed_categories(client, items: int = 400) -> None:  # noqa: ANN001
    for i in range(items):
        client.hset(keys.item_info(f"i{i}"), mapping={"category": f"c{i % 7}", "title": f"T{i}"})


def _user(client, user: str):  # noqa: ANN001, ANN202
    return decode_user_features(client.hgetall(keys.user_features(user)))


def _assert_features(client, evs: list[events.Envelope]) -> None:  # noqa: ANN001
    want = expected.counters(evs)
    pattern = keys.item_counts("*", "*", 0).rsplit(":", 1)[0] + ":*"
    got = {
        (key, item): int(n)
        for key in client.scan_iter(match=pattern, count=5000)
        for item, n in client.hgetall(key).items()
    }
    assert got == dict(want)
    want_live = expected.live(evs)
    assert [int(v) for v in client.mget(list(want_live))] == list(want_live.values())
    carts = expected.carts(evs)
    for user in {e.user_id for e in evs if e.user_id}:
        assert _user(client, user).cart == carts.get(user, {})
    pairs = expected.coviews(evs)
    for item in {i for i, _ in pairs}:
        stored = dict(client.zrange(keys.coviews(item), 0, -1, withscores=True))
        distinct = sum(1 for i, _ in pairs if i == item)
        if distinct <= keys.COVIEWS_CAP:  # never trimmed: exact
            assert stored == {other: pairs[(item, other)] for i, other in pairs if i == item}
        else:  # capped to the most co-viewed
            assert len(stored) == keys.COVIEWS_CAP


def test_counters_equal_python_counts_for_10k_events(stream_settings, redis_client) -> None:
    _seed_categories(redis_client)
    evs = shop_events(10_000)
    produce_plain(stream_settings, evs + evs[:500])  # the first 500 twice: a producer retry
    runner = ConsumerRunner(FeaturesProcessor(redis_client, stream_settings), stream_settings)
    stats = runner.run(max_seconds=120, until=lambda s: s.consumed >= 10_500)

    assert stats.consumed == 10_500 and stats.applied == 10_000
    _assert_features(redis_client, evs)
    viewed = {e.user_id: e.payload.item_id for e in evs if e.event_type == "product_view"}
    user, item = next(iter(viewed.items()))
    assert redis_client.zscore(keys.user_recent_items(user), item) is not None
    assert redis_client.zcard(keys.TRENDING) > 0
    assert {cat for cat, _ in _user(redis_client, user).affinity} <= {f"c{i}" for i in range(7)}
    assert 0 < redis_client.ttl(keys.user_features(user)) <= keys.USER_RT_TTL_S
    assert 0 < redis_client.ttl(keys.user_recent_items(user)) <= keys.USER_RT_TTL_S
    minute = int(evs[0].occurred_at.timestamp() // 60)
    assert redis_client.pfcount(keys.live_active_users(minute)) >= 1
    lag = {(r.topic, r.partition): r for r in group_lag(stream_settings) if "features" in r.group}
    assert lag and all(r.lag == 0 for r in lag.values())
    assert sum(r.high for r in lag.values()) == 10_500


def _applied(client) -> int:  # noqa: ANN001
    pattern = keys.seen_events("features", "*")
    return sum(client.hlen(key) for key in client.scan_iter(match=pattern))


def _consumer_process(batch: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "cli.main", "stream", "features", "--batch-size", str(batch)]
    return subprocess.Popen(argv, env=os.environ.copy(), stderr=subprocess.PIPE)


def test_sigkill_mid_stream_then_restart_keeps_counts_exact(stream_settings, redis_client) -> None:
    _seed_categories(redis_client)
    evs = shop_events(10_000, seed=11)
    # Half the stream first: the kill lands mid-stream however fast the consumer is, and
    # offsets are committed every few hundred ms, so the restart re-reads applied events.
    produce_plain(stream_settings, evs[:5_000])

    first = _consumer_process(batch=100)
    deadline = time.monotonic() + 90
    while _applied(redis_client) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    at_kill = _applied(redis_client)
    assert 0 < at_kill < len(evs), "the consumer must die mid-stream"
    produce_plain(stream_settings, evs[5_000:])

    second = _consumer_process(batch=1000)
    deadline = time.monotonic() + 120
    while _applied(redis_client) < len(evs) and time.monotonic() < deadline:
        time.sleep(0.2)
    second.send_signal(signal.SIGTERM)  # graceful: finish the batch, commit, close
    assert second.wait(30) == 0, second.stderr.read().decode()[-2000:] if second.stderr else ""

    _assert_features(redis_client, evs)
    lag = [r for r in group_lag(stream_settings) if r.group.endswith("features")]
    assert all(r.lag == 0 for r in lag)


def test_poison_messages_go_to_dead_letter_and_stream_keeps_flowing(
    stream_settings, redis_client
) -> None:
    good = shop_events(200, seed=3)
    bad_type = b'{"event_type": "no_such_event", "payload": {}}'
    bad_field = events.make_event("product_view", {"item_id": "i1"}).model_dump_json()
    bad_field = bad_field.replace('"item_id":"i1"', '"item_id":""').encode()
    produce_plain(stream_settings, [], raw=[b"\xff not json", bad_type, bad_field])
    produce_plain(stream_settings, good)

    runner = ConsumerRunner(FeaturesProcessor(redis_client, stream_settings), stream_settings)
    stats = runner.run(max_seconds=60, until=lambda s: s.consumed >= 203)

    assert stats.dead_letters == 3 and stats.applied == 200
    _assert_features(redis_client, good)
    dlq = Consumer(
        {
            "bootstrap.servers": stream_settings.kafka_bootstrap_servers,
            "group.id": "dlq-reader",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }  # fmt: skip
    )
    dlq.subscribe([topics.DEAD_LETTER.name(stream_settings)])
    received = []
    deadline = time.monotonic() + 30
    while len(received) < 3 and time.monotonic() < deadline:
        received += [m for m in dlq.consume(10, 0.5) if m.error() is None]
    dlq.close()
    assert sorted(m.value() for m in received) == sorted([b"\xff not json", bad_type, bad_field])
    for message in received:
        headers = dict(message.headers())
        assert headers[topics.DLQ_ERROR_HEADER]
        assert (
            headers[topics.DLQ_SOURCE_HEADER]
            .decode()
            .startswith(topics.BEHAVIOUR.name(stream_settings))
        )
    assert b"item_id" in dict(received[-1].headers())[topics.DLQ_ERROR_HEADER] or any(
        b"item_id" in dict(m.headers())[topics.DLQ_ERROR_HEADER] for m in received
    )


def test_cart_follows_adds_removes_and_purchases(stream_settings, redis_client) -> None:
    def cart_event(kind: str, item: str, qty: int) -> events.Envelope:
        payload = {"item_id": item, "quantity": qty}
        if kind == "add_to_cart":
            payload |= {"unit_price_minor": 100, "currency": "USD"}
        return events.make_event(kind, payload, user_id="alice")

    processor = FeaturesProcessor(redis_client, stream_settings)
    processor.apply([cart_event("add_to_cart", "a", 2), cart_event("add_to_cart", "b", 1)])
    processor.apply([cart_event("remove_from_cart", "a", 1), cart_event("add_to_cart", "c", 5)])
    order = {"order_id": "o1", "lines": [{"item_id": "c", "quantity": 5, "unit_price_minor": 100}],
             "total_minor": 500, "currency": "USD"}  # fmt: skip
    processor.apply([events.make_event("order_placed", order, user_id="alice")])
    processor.apply([cart_event("remove_from_cart", "b", 3)])

    assert _user(redis_client, "alice").cart == {"a": 1}
    assert redis_client.smembers(keys.user_purchased("alice")) == {"c"}


def test_category_affinity_decays_so_recent_interest_wins(stream_settings, redis_client) -> None:
    from datetime import UTC, datetime, timedelta

    redis_client.hset(keys.item_info("shoe"), "category", "shoes")
    redis_client.hset(keys.item_info("hat"), "category", "hats")
    half_life = timedelta(seconds=stream_settings.stream_affinity_half_life_s)
    then = datetime.now(UTC) - 2 * half_life
    old = [
        events.make_event("product_view", {"item_id": "shoe"}, user_id="bo", occurred_at=then)
        for _ in range(3)
    ]  # worth 3 * 2**-2 = 0.75 views now
    processor = FeaturesProcessor(redis_client, stream_settings)
    processor.apply(old)
    assert [cat for cat, _ in _user(redis_client, "bo").affinity] == ["shoes"]
    processor.apply([events.make_event("product_view", {"item_id": "hat"}, user_id="bo")])
    assert [cat for cat, _ in _user(redis_client, "bo").affinity] == ["hats", "shoes"]
    trending = redis_client.zrevrange(keys.TRENDING, 0, -1, withscores=True)
    assert [item for item, _ in trending] == ["hat", "shoe"]
    hours = 2 * half_life.total_seconds() / stream_settings.stream_trending_half_life_s
    assert trending[1][1] / trending[0][1] == pytest.approx(3 * 2**-hours, rel=1e-3)


def test_a_long_idle_user_keeps_the_top_categories_rescaled(stream_settings, redis_client) -> None:
    from datetime import UTC, datetime

    cap, half_life = keys.USER_CATEGORIES_CAP, stream_settings.stream_affinity_half_life_s
    now = [1_800_000_000.0]
    processor = FeaturesProcessor(redis_client, stream_settings)
    processor.clock = lambda: now[0]

    def view(item: str) -> events.Envelope:
        at = datetime.fromtimestamp(now[0], UTC)
        return events.make_event("product_view", {"item_id": item}, user_id="di", occurred_at=at)

    for k in range(cap + 5):
        redis_client.hset(keys.item_info(f"i{k}"), "category", f"c{k}")
    redis_client.hset(keys.item_info("new"), "category", "fresh")
    processor.apply([view(f"i{k}") for k in range(cap + 5) for _ in range(k + 1)])
    before = dict(_user(redis_client, "di").affinity)
    assert before == {f"c{k}": k + 1 for k in range(cap + 5)}

    idle = (REBASE_HALF_LIVES + 1) * half_life  # past the point where scores are rescaled
    now[0] += idle
    processor.apply([view("new")])
    after = dict(_user(redis_client, "di").affinity)
    assert set(after) == {"fresh"} | {f"c{k}" for k in range(5, cap + 5)}  # the weakest went
    assert after["fresh"] == 1.0
    for k in range(5, cap + 5):
        assert after[f"c{k}"] == pytest.approx((k + 1) * 2 ** (-idle / half_life))
    assert redis_client.hget(keys.user_features("di"), "a") == str(int(now[0]))


def _view(item: str, user: str | None, session: str) -> events.Envelope:
    return events.make_event("product_view", {"item_id": item}, user_id=user, session_id=session)


def _coviews(client, item: str) -> dict[str, float]:  # noqa: ANN001
    return dict(client.zrange(keys.coviews(item), 0, -1, withscores=True))


def test_anonymous_and_user_sessions_both_pair_their_views(stream_settings, redis_client) -> None:
    processor = FeaturesProcessor(redis_client, stream_settings)
    processor.apply([_view("a", None, "anon"), _view("b", None, "anon")])
    processor.apply([_view("c", None, "anon"), _view("a", "ann", "s1")])
    processor.apply([_view("b", "ann", "s1"), _view("b", "ann", "s1")])

    assert _coviews(redis_client, "a") == {"b": 2, "c": 1}
    assert _coviews(redis_client, "b") == {"a": 2, "c": 1}
    assert _coviews(redis_client, "c") == {"a": 1, "b": 1}
    anon = redis_client.get(keys.session_items("anon"))  # a user's live in their hash
    assert codec.decode_session(anon) == (None, ["a", "b", "c"])
    assert not redis_client.exists(keys.session_items("s1"))
    ann = redis_client.hget(keys.user_features("ann"), keys.USER_SESSION_FIELD + "s1")
    last_view, items = codec.decode_session(ann)
    assert items == ["a", "b"] and last_view is not None


def test_a_user_keeps_the_newest_sessions_and_an_idle_one_starts_over(
    stream_settings, redis_client
) -> None:
    now = [1_800_000_000.0]
    processor = FeaturesProcessor(redis_client, stream_settings)
    processor.clock = lambda: now[0]
    cap = keys.USER_SESSIONS_CAP
    for k in range(2 * cap + 1):  # one view per session, one second apart
        now[0] += 1
        processor.apply([_view(f"i{k}", "ann", f"s{k}")])
    fields = redis_client.hkeys(keys.user_features("ann"))
    sessions = {
        f.removeprefix(keys.USER_SESSION_FIELD)
        for f in fields
        if f.startswith(keys.USER_SESSION_FIELD)
    }
    assert sessions == {f"s{k}" for k in range(cap + 1, 2 * cap + 1)}  # the oldest went

    now[0] += 1
    processor.apply([_view("x", "ann", "s0"), _view("y", "ann", f"s{cap + 1}")])
    assert _coviews(redis_client, "x") == {}  # s0 was dropped: it starts over
    assert _coviews(redis_client, "y") == {f"i{cap + 1}": 1}

    now[0] += keys.SESSION_TTL_S + 1  # idle too long: over
    processor.apply([_view("z", "ann", f"s{cap + 1}")])
    now[0] += 1
    processor.apply([_view("w", "ann", f"s{cap + 1}")])
    assert _coviews(redis_client, "z") == {"w": 1}
    assert _coviews(redis_client, "w") == {"z": 1}


class _FailsOnce(FeaturesProcessor):
    """Fails its second batch once (e.g. Redis unreachable), after the runner fetched more."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.calls = 0

    def apply_prepared(self, prepared):  # noqa: ANN001, ANN201
        self.calls += 1
        if self.calls == 2:
            raise ConnectionError("redis went away")
        return super().apply_prepared(prepared)


def test_a_failed_batch_is_retried_with_the_batch_fetched_behind_it(
    stream_settings, redis_client
) -> None:
    _seed_categories(redis_client)
    evs = shop_events(3_000, seed=5)
    produce_plain(stream_settings, evs)
    processor = _FailsOnce(redis_client, stream_settings)
    runner = ConsumerRunner(processor, stream_settings, batch_size=200)
    stats = runner.run(max_seconds=90, until=lambda s: s.applied >= len(evs))

    assert processor.calls > 2 and stats.applied == len(evs)
    _assert_features(redis_client, evs)
    lag = [r for r in group_lag(stream_settings) if r.group.endswith("features")]
    assert lag and all(r.lag == 0 for r in lag)


def test_a_product_in_the_same_batch_gives_its_category_at_once(
    stream_settings, redis_client
) -> None:
    product = {"item_id": "boot", "title": "Boot", "category": "boots", "price_minor": 5000,
               "currency": "EUR", "stock": 3}  # fmt: skip
    FeaturesProcessor(redis_client, stream_settings).apply(
        [
            events.make_event("product.upserted", product),
            events.make_event("product_view", {"item_id": "boot"}, user_id="cy"),
        ]
    )
    assert [cat for cat, _ in _user(redis_client, "cy").affinity] == ["boots"]
    assert redis_client.hget(keys.item_info("boot"), "category") == "boots"
