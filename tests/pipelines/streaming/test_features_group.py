"""Two ``shopflow stream features`` processes in one consumer group: they split the
partitions, a consumer joins mid-stream and another is SIGKILLed, and every counter stays
exact (the revoked consumer commits what it applied; the new owner resumes from the
committed offset; the applied-marks make the replays no-ops)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipelines.streaming.status import group_lag
from shopflow import topics
from shopflow.config import get_settings

from .conftest import produce_plain, shop_events
from .test_features import _applied, _assert_features, _seed_categories

EVENTS = 20_000


class _Consumer:
    """One ``shopflow stream features`` process logging to a file."""

    def __init__(self, log: Path) -> None:
        self.log = log
        argv = [sys.executable, "-m", "cli.main", "stream", "features", "--batch-size", "200"]
        with log.open("w") as out:
            self.proc = subprocess.Popen(argv, env=os.environ.copy(), stdout=out, stderr=out)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def assigned(self) -> bool:
        """Whether its last assignment holds a partition."""
        found = re.findall(r"assigned (\[.*\])", self.output())
        return bool(found) and found[-1] != "[]"


@pytest.fixture
def consumers(tmp_path: Path) -> Iterator[Callable[[str], _Consumer]]:
    started: list[_Consumer] = []

    def start(name: str) -> _Consumer:
        started.append(_Consumer(tmp_path / f"{name}.log"))
        return started[-1]

    yield start
    for consumer in started:
        if consumer.proc.poll() is None:
            consumer.proc.kill()
            consumer.proc.wait(30)


def _wait(check: Callable[[], bool], what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s}s"
        time.sleep(0.05)


def test_partitions_come_from_settings(stream_settings, monkeypatch) -> None:
    monkeypatch.setenv("SHOPFLOW_KAFKA_PARTITIONS", '{"behaviour": 8}')
    get_settings.cache_clear()
    settings = get_settings()
    assert topics.BEHAVIOUR.partition_count(settings) == 8
    assert topics.ORDERS.partition_count(settings) == topics.ORDERS.partitions
    monkeypatch.setenv("SHOPFLOW_KAFKA_PARTITIONS", '{"behavior": 8}')
    get_settings.cache_clear()
    with pytest.raises(ValueError, match=r"unknown topics \['behavior'\]"):
        topics.check_partitions(get_settings())
    monkeypatch.setenv("SHOPFLOW_KAFKA_PARTITIONS", '{"behaviour": 0}')
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="at least one partition"):
        get_settings()


def test_a_users_events_share_one_partition_key() -> None:
    evs = [e for e in shop_events(200) if e.event_type in ("product_view", "add_to_cart")]
    by_user = {e.user_id: topics.message_key(e) for e in evs}
    assert all(topics.message_key(e) == by_user[e.user_id] == e.user_id for e in evs)


def test_two_consumers_with_a_join_and_a_kill_keep_counts_exact(
    stream_settings, redis_client, consumers, monkeypatch
) -> None:
    # a dead member's partitions move after the session timeout: keep it short
    monkeypatch.setenv("SHOPFLOW_KAFKA_SESSION_TIMEOUT_MS", "3000")
    _seed_categories(redis_client)
    evs = shop_events(EVENTS, seed=23)
    quarter = EVENTS // 4
    produce_plain(stream_settings, evs[:quarter])

    first = consumers("first")
    _wait(lambda: _applied(redis_client) > 0, "the first consumer applying")
    alone = _applied(redis_client)

    second = consumers("second")  # joins mid-stream: the group rebalances
    _wait(second.assigned, "the second consumer getting partitions")
    assert first.proc.poll() is None, first.output()[-2000:]
    produce_plain(stream_settings, evs[quarter : 3 * quarter])
    _wait(lambda: _applied(redis_client) > 2 * quarter, "both consumers applying")

    first.proc.send_signal(signal.SIGKILL)  # mid-stream: the survivor takes its partitions over
    first.proc.wait(10)
    at_kill = _applied(redis_client)
    assert at_kill < EVENTS, "the kill must land mid-stream"
    produce_plain(stream_settings, evs[3 * quarter :])

    _wait(lambda: _applied(redis_client) >= EVENTS, "every event applied", timeout_s=180)
    second.proc.send_signal(signal.SIGTERM)  # graceful: finish the batch, commit, close
    assert second.proc.wait(30) == 0, second.output()[-2000:]

    _assert_features(redis_client, evs)  # counters, live metrics, carts, co-views: exact
    assert _applied(redis_client) == EVENTS
    summary = re.search(r"(\d+) consumed, (\d+) applied", second.output())
    assert summary, second.output()[-2000:]
    assert alone > 0 and int(summary.group(2)) > 0  # both did work
    lag = [r for r in group_lag(stream_settings) if r.group.endswith("features")]
    assert lag and all(r.lag == 0 for r in lag)
    print(
        f"\nfirst applied {alone} alone, {at_kill} together before its kill; the second "
        f"consumed {summary.group(1)} and applied {summary.group(2)} of {EVENTS}"
    )
