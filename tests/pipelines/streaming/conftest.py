"""Fixtures of the real-time pipeline tests: the session broker and Redis, a topic prefix of
the test's own (so tests never see each other's messages), and an event generator."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Producer

from shopflow import events, topics
from shopflow.config import Settings, get_settings


@pytest.fixture
def stream_settings(
    tmp_path, monkeypatch: pytest.MonkeyPatch, kafka_broker: str, redis_server: str
) -> Iterator[Settings]:
    """Settings (also in the environment, for subprocesses) on the session broker and Redis,
    with a topic prefix unique to the test."""
    monkeypatch.setenv("SHOPFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker)
    monkeypatch.setenv("REDIS_URL", redis_server)
    monkeypatch.setenv("SHOPFLOW_KAFKA_TOPIC_PREFIX", f"t{uuid.uuid4().hex[:10]}.")
    monkeypatch.setenv("SHOPFLOW_STREAM_BATCH_WAIT_MS", "50")
    get_settings.cache_clear()
    settings = get_settings()
    settings.ensure_dirs()
    yield settings
    get_settings.cache_clear()


def produce_plain(settings: Settings, evs: list[events.Envelope], raw: list[bytes] = ()) -> None:
    """Publish the way a user's own service would: plain confluent-kafka, JSON values, keyed
    per shopflow.topics. ``raw`` values go to the behaviour topic as they are."""
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "acks": "all", "linger.ms": 5}
    )
    errors: list[str] = []

    def report(err, _msg) -> None:  # noqa: ANN001
        if err is not None:
            errors.append(err.str())

    for value in raw:
        producer.produce(topics.BEHAVIOUR.name(settings), key=b"poison", value=value)
    for event in evs:
        producer.produce(
            topics.topic_for(event.event_type).name(settings),
            key=topics.message_key(event),
            value=event.model_dump_json(),
            on_delivery=report,
        )
        producer.poll(0)
    assert producer.flush(30) == 0
    assert errors == []


def shop_events(n: int, seed: int = 7, users: int = 300, items: int = 400) -> list[events.Envelope]:
    """A mixed stream of behaviour and order events over the last two hours."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    out: list[events.Envelope] = []
    for i in range(n):
        user = f"u{rng.randrange(users)}"
        item = f"i{rng.randrange(items)}"
        env = {
            "user_id": user,
            "session_id": f"{user}-s{rng.randrange(3)}",
            "occurred_at": now - timedelta(seconds=rng.uniform(0, 7200)),
            "event_id": f"e{seed}-{i}",
        }
        kind = rng.random()
        if kind < 0.7:
            out.append(events.make_event("product_view", {"item_id": item}, **env))
        elif kind < 0.85:
            payload = {"item_id": item, "quantity": rng.randint(1, 3), "unit_price_minor": 999,
                       "currency": "USD"}  # fmt: skip
            out.append(events.make_event("add_to_cart", payload, **env))
        elif kind < 0.9:
            payload = {"item_id": item, "quantity": 1}
            out.append(events.make_event("remove_from_cart", payload, **env))
        else:
            # Bought items are never in carts here: orders and cart events travel on
            # different topics, so their relative order is not defined.
            lines = [{"item_id": f"b{rng.randrange(items // 4)}", "quantity": 1,
                      "unit_price_minor": 500} for _ in range(rng.randint(1, 3))]  # fmt: skip
            currency = rng.choice(["USD", "EUR"])
            payload = {"order_id": f"o{seed}-{i}", "lines": lines,
                       "total_minor": 500 * len(lines), "currency": currency}  # fmt: skip
            out.append(events.make_event("order_placed", payload, **env))
    return out
