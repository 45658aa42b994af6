"""Consumer group lag: committed offset vs high watermark, per partition.

High watermarks come from a fetch response rather than ListOffsets: the embedded broker
(Tansu 0.6) answers ListOffsets(latest) with the base offset of the last record batch + 1,
which is too low when batches hold several records. A fetch reports the true watermark on
every broker, so we assign each partition at that (possibly low) offset and read the
watermark librdkafka cached from the fetch.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from commerce.notifications.workflows import WorkflowConfigError
from pipelines.streaming import features, notify, sink, wishlist_alerts
from pipelines.streaming.runner import group_id
from shopflow import bus, topics
from shopflow.config import Settings, get_settings

#: Processor name -> the topics its consumer group reads.
GROUPS: dict[str, tuple[topics.Topic, ...]] = {
    features.NAME: features.TOPICS,
    sink.NAME: sink.TOPICS,
    wishlist_alerts.NAME: wishlist_alerts.WishlistAlertsProcessor.topics,
}


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int | None  # None: the group has committed nothing there
    high: int

    @property
    def lag(self) -> int:
        return self.high - (self.committed or 0)


def high_watermarks(
    bootstrap: str, partitions: list[TopicPartition], timeout: float = 10.0
) -> dict[tuple[str, int], int]:
    """True high watermark of each partition (see the module note)."""
    probe = Consumer(
        {
            **bus.client_config(bootstrap),
            "group.id": f"shopflow-status-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 1024 * 1024,
        }
    )
    try:
        listed = probe.offsets_for_times(
            [TopicPartition(p.topic, p.partition, -1) for p in partitions], timeout=timeout
        )  # -1 = latest, via ListOffsets: a lower bound on Tansu, exact elsewhere
        start = [TopicPartition(p.topic, p.partition, max(0, p.offset - 1)) for p in listed]
        probe.assign(start)
        out: dict[tuple[str, int], int] = {}
        deadline = time.monotonic() + timeout
        while len(out) < len(partitions) and time.monotonic() < deadline:
            probe.consume(500, 0.2)
            for tp in start:
                _, high = probe.get_watermark_offsets(tp, cached=True)
                if high >= 0:
                    out[(tp.topic, tp.partition)] = high
        for tp in listed:  # empty partitions never answer a fetch with data
            out.setdefault((tp.topic, tp.partition), max(tp.offset, 0))
        return out
    finally:
        probe.close()


def group_lag(settings: Settings | None = None, timeout: float = 10.0) -> list[PartitionLag]:
    """Lag of every consumer group of the real-time pipeline."""
    settings = settings or get_settings()
    bootstrap = bus.bootstrap_servers(settings)
    admin = AdminClient(bus.client_config(bootstrap, settings))
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise bus.BusUnavailable(f"broker {bootstrap} unreachable: {exc}") from exc
    rows: list[PartitionLag] = []
    all_parts: dict[tuple[str, int], TopicPartition] = {}
    wanted: dict[str, list[TopicPartition]] = {}
    groups = dict(GROUPS)
    with contextlib.suppress(WorkflowConfigError):  # its topics follow notifications.yaml
        groups[notify.NAME] = notify.subscribed_topics(settings)
    for name, group_topics in groups.items():
        parts = [
            TopicPartition(t.name(settings), p)
            for t in group_topics
            if t.name(settings) in metadata.topics
            for p in sorted(metadata.topics[t.name(settings)].partitions)
        ]
        wanted[name] = parts
        all_parts.update({(p.topic, p.partition): p for p in parts})
    highs = high_watermarks(bootstrap, list(all_parts.values()), timeout) if all_parts else {}
    for name, parts in wanted.items():
        group = group_id(name, settings)
        committed = _committed(bootstrap, group, parts, timeout)
        for tp in parts:
            key = (tp.topic, tp.partition)
            rows.append(PartitionLag(group, tp.topic, tp.partition, committed.get(key), highs[key]))
    return rows


def _committed(
    bootstrap: str, group: str, parts: list[TopicPartition], timeout: float
) -> dict[tuple[str, int], int]:
    if not parts:
        return {}
    consumer = Consumer({**bus.client_config(bootstrap), "group.id": group})
    try:
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in consumer.committed(parts, timeout=timeout)
            if tp.offset >= 0
        }
    finally:
        consumer.close()
