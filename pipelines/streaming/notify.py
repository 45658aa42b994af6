"""Consumer group ``notify``: commerce events -> notifications (``shopflow stream notify``).

Subscribes to the topics of every event type the workflows (``notifications.yaml``) map,
plus the users topic (sign-up emails). Per poll: trigger the events' workflows in one
transaction (idempotent on the event id), then send what is due now in batches. ``tick`` is
the scheduler: every ``notify_worker_interval_s`` it flushes closed digest windows and sends
due deliveries (quiet hours ended, retry backoff elapsed, claims abandoned by a crashed worker).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from commerce.notifications import channels as channel_registry
from commerce.notifications import delivery, service, workflows
from commerce.notifications.channels.base import Channel
from pipelines.streaming.runner import Record
from shopflow import topics
from shopflow.config import Settings, get_settings

NAME = "notify"
log = logging.getLogger("shopflow.stream.notify")


def subscribed_topics(settings: Settings | None = None) -> tuple[topics.Topic, ...]:
    wanted = {topics.topic_for(t) for t in workflows.load(settings).event_types} | {topics.USERS}
    return tuple(t for t in topics.EVENT_TOPICS if t in wanted)


class NotifyProcessor:
    """See ``runner.Processor``. Durable as soon as ``process`` returns (DB commits)."""

    name = NAME

    def __init__(
        self, settings: Settings | None = None, channels: Mapping[str, Channel] | None = None
    ) -> None:
        self.settings = settings or get_settings()
        self.topics = subscribed_topics(self.settings)
        self.channels = channels if channels is not None else channel_registry.build(self.settings)
        self._owns_channels = channels is None
        self._next_tick = 0.0

    def process(self, records: list[Record]) -> int:
        triggered = service.handle_events([record.event for record in records])
        delivery.deliver_many([i for t in triggered for i in t.due_now], self.channels)
        return sum(t.created for t in triggered)

    def durable(self) -> bool:
        return True

    def tick(self) -> None:
        now = time.monotonic()
        if now < self._next_tick:
            return
        self._next_tick = now + self.settings.notify_worker_interval_s
        run_scheduled(self.channels)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        if self._owns_channels:
            channel_registry.close_all(self.channels)


def run_scheduled(channels: Mapping[str, Channel]) -> dict[str, str]:
    """One scheduler pass: close digest windows, then send every due delivery."""
    for triggered in service.flush_digests():
        delivery.deliver_many(triggered.due_now, channels)
    return delivery.deliver_due(channels)
