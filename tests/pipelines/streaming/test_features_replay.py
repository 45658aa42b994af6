"""Redis 6.2 logs the features consumer's batch script to its append-only file as the script
call, not as its writes (``script_logging``), so a restart replays the scripts: the state
after a crash must be exactly the state before it, expiry times included."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from pipelines.streaming.features import FeaturesProcessor
from shopflow import embedded
from shopflow.config import Settings
from shopflow.online_store import keys, script_logging
from tests.processes import crash

from .conftest import shop_events

CLOCK_BEHIND_S = 3_600  # the consumer's clock: expiries are absolute times from it


def _state(client: redis.Redis) -> tuple[dict[bytes, object], dict[bytes, int]]:
    """Every key's value (by type) and its remaining time to live (ms)."""
    values: dict[bytes, object] = {}
    ttls: dict[bytes, int] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"hash":
            values[key] = client.hgetall(key)
        elif kind == b"zset":
            values[key] = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"set":
            values[key] = sorted(client.smembers(key))
        else:
            raw = client.get(key)
            values[key] = client.pfcount(key) if raw.startswith(b"HYLL") else raw
        ttls[key] = client.pttl(key)
    return values, ttls


def _rewrite_aof(client: redis.Redis) -> None:
    client.bgrewriteaof()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        info = client.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            return
        time.sleep(0.05)
    raise TimeoutError("the AOF rewrite did not finish")


def test_a_crashed_redis_replays_the_batches_to_the_same_state(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    server = embedded.start_redis(settings)
    try:
        client = redis.Redis.from_url(server.url)
        for i in range(400):
            client.hset(keys.item_info(f"i{i}"), "category", f"c{i % 7}")
        processor = FeaturesProcessor(client, settings)
        processor.clock = lambda: time.time() - CLOCK_BEHIND_S
        evs = shop_events(4_000, seed=11)
        for start in range(0, len(evs), 500):
            if start == 2_000:  # the script must be logged again after a rewrite
                _rewrite_aof(client)
            assert processor.apply(evs[start : start + 500]) == 500
        assert processor.apply(evs[:500]) == 0  # a redelivery writes nothing
        before, ttls_before = _state(client)
        assert len(before) > 1_000
        # other clients' scripts keep the server's setting: their writes are what is logged
        assert client.config_get(script_logging.SWITCH) == {script_logging.SWITCH: "yes"}
        aof = (settings.home_dir / "redis" / "appendonly.aof").read_bytes().lower()
        assert b"\r\nevalsha\r\n" in aof and b"\r\nzadd\r\n" not in aof  # calls, not writes

        killed_at = time.monotonic()
        crash(server.pid)  # no shutdown save: only the AOF has the batches
        server = embedded.start_redis(settings)
        client = redis.Redis.from_url(server.url)
        after, ttls_after = _state(client)
        elapsed_ms = (time.monotonic() - killed_at) * 1000

        assert after == before
        user = keys.user_features(next(e.user_id for e in evs if e.user_id)).encode()
        expected_ms = (keys.USER_RT_TTL_S - CLOCK_BEHIND_S) * 1000  # from the consumer's clock
        assert abs(ttls_before[user] - expected_ms) < 5_000
        for key, ttl in ttls_before.items():
            if ttl >= 0:
                assert abs(ttls_after[key] - (ttl - elapsed_ms)) < 2_000, key
    finally:
        embedded.stop("redis", settings)
