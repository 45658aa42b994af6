"""Issue 21 (a): the broker restarts mid-traffic; every event POST /events answered 202 is
on the topic afterwards (durable storage), and the API recovers by itself. Known to fail now
and then (see the xfail): the broker, not Shopflow, drops events acknowledged at the crash."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest

from shopflow import topics
from shopflow.config import Settings

from .conftest import (
    ingest_headers,
    restart_broker,
    start_api,
    topic_event_ids,
    view_events,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.mark.xfail(
    strict=False,
    reason="Tansu 0.6 (S3 storage) may lose the few events it acknowledged just before a "
    "crash: a restarted broker reuses their offsets or skips them (seen: 0-8 of ~2,000)",
)
def test_events_acknowledged_before_a_broker_restart_are_kept(fault_home: Settings,
                                                              processes) -> None:  # fmt: skip
    base = start_api(fault_home, processes)
    accepted: list[str] = []
    statuses: Counter[int] = Counter()
    accepted_at: list[float] = []
    stop = threading.Event()

    def traffic() -> None:
        with httpx.Client(base_url=base, timeout=15, headers=ingest_headers()) as client:
            batch = 0
            while not stop.is_set():
                evs = view_events(f"r{batch}", 20)
                answer = client.post("/events", json=evs)
                statuses[answer.status_code] += 1
                if answer.status_code == 202:
                    accepted.extend(e["event_id"] for e in evs)
                    accepted_at.append(time.monotonic())
                else:
                    assert answer.status_code == 503, answer.text
                    assert "retry-after" in answer.headers
                batch += 1

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        wait_for(lambda: len(accepted) >= 400, 60, "traffic before the restart")
        away = restart_broker(fault_home)
        back = time.monotonic()
        recovery = wait_for(lambda: bool(accepted_at) and accepted_at[-1] > back, 30,
                            "a 202 after the restart")  # fmt: skip
        count_before = len(accepted)
        wait_for(lambda: len(accepted) >= count_before + 200, 30, "traffic after the restart")
    finally:
        stop.set()
        sender.join(30)
    on_topic = set(topic_event_ids(fault_home, topics.BEHAVIOUR))
    lost = set(accepted) - on_topic
    print(f"\nbroker away {away:.2f}s; first 202 {recovery:.2f}s after it was back; "
          f"answers {dict(statuses)}; accepted {len(set(accepted))}, lost {len(lost)}")  # fmt: skip
    assert statuses[500] == 0
    assert not lost
