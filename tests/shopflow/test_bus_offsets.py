"""The producer takes a delivery report for a delivery only when the broker gave the message
a place: a crashed broker can answer a batch's retry "duplicate" after storing nothing, and
librdkafka then reports it delivered at offset -1 (and the next ones at 0, 1...)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, TopicPartition

from shopflow import bus, embedded, events, topics
from shopflow.bus import _OffsetWatch
from shopflow.config import Settings
from tests.broker import restart_broker


def _report(offset: int, partition: int = 0) -> Message:
    return Message(topic="behaviour", partition=partition, offset=offset)


def test_offsets_that_cannot_be_true_are_not_taken_for_deliveries() -> None:
    watch = _OffsetWatch()
    assert [watch.confirms(_report(o), resent=False) for o in (40, 41, 42)] == [True] * 3
    # the retry of a batch the broker recorded as sent but never stored
    assert not watch.confirms(_report(-1), resent=False)  # read back as None
    assert not watch.confirms(_report(-2), resent=False)
    assert not watch.confirms(_report(0), resent=False)
    assert not watch.confirms(_report(42), resent=False)
    assert watch.confirms(_report(43), resent=False)
    assert watch.confirms(_report(0, partition=1), resent=False)  # partitions apart


def test_a_message_sent_again_is_taken_where_it_lands() -> None:
    watch = _OffsetWatch()
    assert watch.confirms(_report(500), resent=False)
    assert watch.confirms(_report(3), resent=True)  # a broker whose log started over
    assert watch.confirms(_report(4), resent=False)
    assert not watch.confirms(_report(-1), resent=True)


def _views(n: int) -> list[events.Envelope]:
    return [
        events.parse_event({"event_id": f"v-{uuid.uuid4().hex}", "event_type": "product_view",
                            "user_id": f"u{i % 5}", "session_id": "s1",
                            "occurred_at": "2026-12-06T00:00:00Z", "payload": {"item_id": "i1"}})
        for i in range(n)
    ]  # fmt: skip


def _ids_on(settings: Settings, topic: topics.Topic) -> set[str]:
    import orjson

    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "group.id": f"check-{uuid.uuid4().hex}"})  # fmt: skip
    consumer.assign([TopicPartition(topic.name(settings), p, 0) for p in range(topic.partitions)])
    ids: set[str] = set()
    try:
        while batch := consumer.consume(500, 3.0):
            ids.update(orjson.loads(m.value() or b"{}")["event_id"] for m in batch if not m.error())
    finally:
        consumer.close()
    return ids


@pytest.mark.integration
def test_a_broker_that_forgot_its_log_still_takes_sends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An in-memory broker restarted gives offsets from 0 again: the producer resends the first
    messages once (they look impossible) and then goes on; nothing is refused or lost."""
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    settings = Settings(home=tmp_path / "home", kafka_storage="memory")
    settings.ensure_dirs()
    try:
        url = embedded.start_kafka(settings).url
        settings = Settings(home=settings.home, kafka_storage="memory",
                            kafka_bootstrap_servers=url)  # fmt: skip
        producer = bus.EventProducer(settings)
        producer.send(_views(200))
        restart_broker(settings)
        later = _views(50)
        sent = _send_when_back(producer, later)
        assert sent == [e.event_id for e in later]
        assert {e.event_id for e in later} <= _ids_on(settings, topics.BEHAVIOUR)
        producer.close()
    finally:
        embedded.stop_all(settings)


def _send_when_back(producer: bus.EventProducer, evs: list[events.Envelope]) -> list[str]:
    """The first sends after a restart may be refused (503 to an API client) until the
    producer reconnects and finds its topics again; never for offsets it would not take."""
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        try:
            return producer.send(evs)
        except bus.BusUnavailable as exc:
            assert "no offset" not in str(exc), exc  # the reset log was taken for a lost one
            time.sleep(0.25)  # a refused connection fails at once; librdkafka backs off
    return producer.send(evs)
