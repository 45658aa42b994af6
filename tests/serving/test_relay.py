"""The outbox relay: to the landing zone, to the Kafka-protocol broker, and crash safety."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pyarrow.dataset as ds
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from commerce import relay
from commerce.db import session_scope
from commerce.outbox import enqueue
from shopflow import topics
from shopflow.config import get_settings


def _enqueue_payments(n: int) -> set[str]:
    ids = set()
    with session_scope() as session:
        for i in range(n):
            event = enqueue(
                session,
                "payment.created",
                {"payment_id": f"pay{i % 7}", "order_id": f"o{i}", "amount_minor": 100 + i,
                 "currency": "USD", "method": "CREDIT_CARD", "gateway": "test",
                 "status": "PENDING"},
                aggregate_id=f"pay{i % 7}",
            )  # fmt: skip
            ids.add(event.event_id)
    return ids


def _consume(bootstrap: str, topic: str, expect: int, timeout_s: float = 30.0) -> list:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex,
                         "enable.auto.commit": False})  # fmt: skip
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(3)])
    messages: list = []
    import time

    deadline = time.monotonic() + timeout_s
    while len(messages) < expect and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            messages.append(msg)
    consumer.close()
    return messages


def test_relay_to_landing(database) -> None:
    ids = _enqueue_payments(12)
    sink = relay.make_sink()
    assert sink.name == "landing"
    assert relay.run(sink, once=True, batch_size=5) == 12
    assert relay.pending_count() == 0
    table = ds.dataset(str(get_settings().landing_dir / "payment_created")).to_table()
    assert set(table["event_id"].to_pylist()) == ids


def test_relay_to_kafka_survives_a_crash(database, kafka_broker, monkeypatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_broker)
    monkeypatch.setenv("SHOPFLOW_KAFKA_TOPIC_PREFIX", f"t{uuid.uuid4().hex[:8]}.")
    get_settings.cache_clear()
    ids = _enqueue_payments(30)
    # a relay process killed (SIGKILL) after publishing its first batch, before stamping it
    child = (
        "import os, signal\n"
        "from commerce import relay\n"
        "sink = relay.make_sink()\n"
        "crash = lambda ids: os.kill(os.getpid(), signal.SIGKILL)\n"
        "relay.relay_once(sink, 10, after_publish=crash)\n"
    )
    proc = subprocess.run([sys.executable, "-c", child], env=os.environ.copy(), timeout=120)
    assert proc.returncode == -9
    assert relay.pending_count() == 30  # nothing was stamped
    sink = relay.make_sink()
    try:
        assert relay.run(sink, once=True, batch_size=8) == 30
    finally:
        sink.close()
    assert relay.pending_count() == 0
    topic = topics.PAYMENTS.name()
    messages = _consume(kafka_broker, topic, expect=40)
    assert len(messages) == 40  # at least once: the first batch of 10 twice
    import json

    seen = {json.loads(m.value())["event_id"] for m in messages}
    assert seen == ids
    for m in messages:  # keyed by aggregate id, so one payment's events share a partition
        assert m.key().decode() == json.loads(m.value())["payload"]["payment_id"]
