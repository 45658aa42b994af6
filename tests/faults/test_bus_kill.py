"""Issue 21 (c): the relay and a consumer are SIGKILLed mid-work. A standby relay takes the
lease over and publishes the rest: every outbox event is on the topic; a restarted sink
consumer lands every one of them."""

from __future__ import annotations

import os
import signal
import time

import pyarrow.parquet as pq
import pytest

from commerce import relay
from commerce.db import migrate, session_scope
from commerce.outbox import enqueue
from shopflow import topics
from shopflow.config import Settings

from .conftest import spawn, topic_event_ids, wait_for

pytestmark = pytest.mark.integration


def _landed(settings: Settings) -> set[str]:
    found: set[str] = set()
    for path in (settings.landing_dir / "product_view").rglob("*.parquet"):  # not temp files
        found.update(pq.read_table(path, columns=["event_id"])["event_id"].to_pylist())
    return found


def test_killed_relay_and_consumer_lose_nothing(fault_home: Settings, processes) -> None:
    migrate.upgrade()
    with session_scope() as session:
        outbox = {
            enqueue(session, "product_view", {"item_id": f"i{i % 90}"}, aggregate_id=f"i{i}",
                    event_id=f"k-{i}", user_id=f"u{i % 40}", session_id="s1").event_id
            for i in range(3000)
        }  # fmt: skip
    holder = processes(spawn(fault_home, "relay", "--kafka", "--batch-size", "20"))
    consumer = processes(spawn(fault_home, "stream", "sink"))
    wait_for(lambda: relay.pending_count() < 2800, 60, "the relay publishing")
    standby = processes(spawn(fault_home, "relay", "--kafka", "--batch-size", "20"))
    wait_for(lambda: "relay ->" in standby.output(), 60, "the standby relay waiting")
    os.kill(holder.pid, signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: bool(_landed(fault_home)), 60, "the consumer landing a first file")
    os.kill(consumer.pid, signal.SIGKILL)
    takeover = wait_for(lambda: relay.pending_count() == 0, 60, "the standby draining")
    takeover_from_kill = time.monotonic() - killed
    assert "published" in standby.output()  # the standby took the lease over
    assert outbox <= set(topic_event_ids(fault_home, topics.BEHAVIOUR))
    restarted = processes(spawn(fault_home, "stream", "sink"))
    landed_in = wait_for(lambda: outbox <= _landed(fault_home), 60, "every event landed")
    print(f"\nstandby relay drained the outbox {takeover_from_kill:.2f}s after the holder was "
          f"killed (lease {fault_home.relay_lease_s}s); the restarted consumer landed every "
          f"event {landed_in:.2f}s after its start")  # fmt: skip
    assert restarted.alive(), restarted.output()
    del takeover
