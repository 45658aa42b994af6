"""Issue 21 (b) and (d): the broker paused 3 s (SIGSTOP, SIGCONT). POST /events answers 503
with Retry-After meanwhile (never 500), and 202 again within seconds; the relay drains its
backlog; SIGTERM stops the relay and a consumer within 10 s even while the broker is paused."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter

import httpx
import pytest

from commerce import relay
from commerce.db import migrate, session_scope
from commerce.outbox import enqueue
from shopflow import topics
from shopflow.config import Settings
from tests.broker import broker_pid

from .conftest import (
    ingest_headers,
    spawn,
    start_api,
    topic_event_ids,
    view_events,
    wait_for,
)

pytestmark = pytest.mark.integration


def _enqueue(prefix: str, n: int) -> set[str]:
    with session_scope() as session:
        return {
            enqueue(session, "product_view", {"item_id": f"i{i}"}, aggregate_id=f"i{i}",
                    event_id=f"{prefix}-{i}", user_id="u1", session_id="s1").event_id
            for i in range(n)
        }  # fmt: skip


def test_a_paused_broker_is_survived_by_the_api_and_the_relay(
    fault_home: Settings, processes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # sends time out during the pause: the producers' ids get fenced (issue 21's 503 loop)
    monkeypatch.setenv("SHOPFLOW_EVENTS_DELIVERY_TIMEOUT_MS", "1500")
    base = start_api(fault_home, processes)  # migrates the database
    outbox = _enqueue("o1", 200)
    worker = processes(spawn(fault_home, "relay", "--kafka"))
    wait_for(lambda: relay.pending_count() == 0, 60, "the relay draining its first backlog")
    statuses: Counter[int] = Counter()
    accepted: list[str] = []
    last_202: list[float] = []
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(base_url=base, timeout=20, headers=ingest_headers()) as client:
            batch = 0
            while not stop.is_set():
                evs = view_events(f"p{batch}", 10)
                answer = client.post("/events", json=evs)
                statuses[answer.status_code] += 1
                if answer.status_code == 202:
                    accepted.extend(e["event_id"] for e in evs)
                    last_202.append(time.monotonic())
                else:
                    assert answer.status_code == 503, answer.text
                    assert answer.headers["retry-after"]
                    assert answer.headers["content-type"].startswith("application/problem+json")
                batch += 1

    sender = threading.Thread(target=traffic)
    sender.start()
    pid = broker_pid(fault_home)
    try:
        wait_for(lambda: len(accepted) >= 100, 30, "traffic before the pause")
        os.kill(pid, signal.SIGSTOP)
        outbox |= _enqueue("o2", 100)  # the relay's backlog grows while the broker is paused
        time.sleep(3)
        os.kill(pid, signal.SIGCONT)
        resumed = time.monotonic()
        api_recovery = wait_for(lambda: bool(last_202) and last_202[-1] > resumed, 30,
                                "a 202 after SIGCONT")  # fmt: skip
        relay_recovery = wait_for(lambda: relay.pending_count() == 0, 30, "the backlog drained")
    finally:
        os.kill(pid, signal.SIGCONT)
        stop.set()
        sender.join(30)
    print(f"\nPOST /events 202 again {api_recovery:.2f}s after SIGCONT; relay backlog drained "
          f"{relay_recovery:.2f}s after; answers {dict(statuses)}")  # fmt: skip
    assert statuses[500] == 0
    assert statuses[503] > 0  # the pause was felt: nothing was answered 202 unconfirmed
    assert worker.alive(), worker.output()
    on_topic = set(topic_event_ids(fault_home, topics.BEHAVIOUR))
    assert set(accepted) <= on_topic
    assert outbox <= on_topic


def test_sigterm_stops_relay_and_consumer_within_10s_while_the_broker_is_paused(
    fault_home: Settings, processes
) -> None:
    migrate.upgrade()
    _enqueue("o", 50)
    worker = processes(spawn(fault_home, "relay", "--kafka"))
    consumer = processes(spawn(fault_home, "stream", "sink"))
    wait_for(lambda: relay.pending_count() == 0, 60, "the relay publishing")
    wait_for(lambda: "assigned" in consumer.output(), 60, "the consumer joining its group")
    pid = broker_pid(fault_home)
    os.kill(pid, signal.SIGSTOP)
    try:
        _enqueue("o-paused", 20)  # the relay is mid-send when the signal comes
        time.sleep(1.0)
        relay_exit = worker.terminate_timed()
        consumer_exit = consumer.terminate_timed()
    finally:
        os.kill(pid, signal.SIGCONT)
    print(f"\nSIGTERM with the broker paused: relay exited in {relay_exit:.2f}s "
          f"(status {worker.proc.returncode}), consumer in {consumer_exit:.2f}s "
          f"(status {consumer.proc.returncode})")  # fmt: skip
    assert relay_exit < 10
    assert consumer_exit < 10
