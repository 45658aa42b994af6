"""Two outbox relays at once: one lease, so each event is published once; takeover."""

from __future__ import annotations

import threading
import time

import pyarrow.dataset as ds

from commerce import relay
from commerce.db import session_scope
from commerce.outbox import enqueue
from shopflow.config import get_settings


def _enqueue(n: int) -> set[str]:
    ids = set()
    with session_scope() as session:
        for i in range(n):
            event = enqueue(session, "product_view", {"item_id": f"i{i}"}, aggregate_id=f"i{i}")
            ids.add(event.event_id)
    return ids


def test_two_relays_publish_each_event_once(database: str) -> None:
    ids = _enqueue(150)
    stop = threading.Event()
    published: dict[str, int] = {}

    def relay_loop(name: str) -> None:
        def count(n: int) -> None:
            published[name] = published.get(name, 0) + n

        relay.run(relay.LandingSink(get_settings()), batch_size=10, interval_s=0.02,
                  stop=stop, on_batch=count)  # fmt: skip

    threads = [threading.Thread(target=relay_loop, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while relay.pending_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(30)
    assert relay.pending_count() == 0
    table = ds.dataset(str(get_settings().landing_dir / "product_view")).to_table()
    landed = table["event_id"].to_pylist()
    assert sorted(landed) == sorted(ids)  # every event once: no batch published twice
    assert sum(published.values()) == 150


def test_lease_excludes_others_until_released_or_lapsed(database: str) -> None:
    assert relay.acquire_lease("relay-a", lease_s=30)
    assert relay.acquire_lease("relay-a", lease_s=30)  # renewal
    assert not relay.acquire_lease("relay-b", lease_s=30)
    relay.release_lease("relay-a")
    assert relay.acquire_lease("relay-b", lease_s=0.2)
    assert not relay.acquire_lease("relay-a", lease_s=30)
    time.sleep(0.3)  # relay-b stopped renewing: its lease lapses
    assert relay.acquire_lease("relay-a", lease_s=30)


def test_a_waiting_relay_takes_over_after_the_holder_stops(database: str) -> None:
    assert relay.acquire_lease("crashed-relay", lease_s=0.5)  # holder died without releasing
    ids = _enqueue(5)
    sink = relay.LandingSink(get_settings())
    assert relay.run(sink, once=True, interval_s=0.05) == 5  # waits for the lapse, then drains
    table = ds.dataset(str(get_settings().landing_dir / "product_view")).to_table()
    assert set(table["event_id"].to_pylist()) == ids
