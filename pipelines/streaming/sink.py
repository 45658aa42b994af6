"""The ``sink`` consumer group: every event topic to landing Parquet (``shopflow.landing``).

Events are buffered per event type and written when the buffer reaches
``sink_roll_rows`` rows or ``sink_roll_bytes`` bytes, or is ``sink_roll_seconds`` old; each
file is written under a temp name and renamed (``landing.write_table``), and the runner
commits offsets only after that. A crash between the rename and the commit rewrites those
events in a new file: landing is at-least-once, and the raw load deduplicates on event_id.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipelines.streaming.runner import Record
from shopflow import events, landing, topics
from shopflow.config import Settings, get_settings

NAME = "sink"
TOPICS = topics.EVENT_TOPICS
log = logging.getLogger("shopflow.stream.sink")


class SinkProcessor:
    """Buffers valid events and rolls them into landing files (see ``runner.Processor``)."""

    name = NAME
    topics = TOPICS

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._count = 0
        self._bytes = 0
        self._since: float | None = None
        self.files: list[Path] = []

    def process(self, records: list[Record]) -> int:
        for record in records:
            self._rows[record.event.event_type].append(record.event.to_row())
            self._bytes += record.size
        self._count += len(records)
        if records and self._since is None:
            self._since = time.monotonic()
        self.tick()
        return len(records)

    def durable(self) -> bool:
        return self._count == 0

    def tick(self) -> None:
        s = self.settings
        if self._count and (
            self._count >= s.sink_roll_rows
            or self._bytes >= s.sink_roll_bytes
            or time.monotonic() - (self._since or 0.0) >= s.sink_roll_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Write every buffered event type (temp name, then rename)."""
        for event_type, rows in self._rows.items():
            table = pa.Table.from_pylist(rows, schema=events.arrow_schema(event_type))
            self.files += landing.write_table(event_type, table, self.settings, prefix="stream")
        if self._count:
            log.info("sink rolled %d events into landing", self._count)
        self._rows.clear()
        self._count = self._bytes = 0
        self._since = None

    def close(self) -> None:
        pass
