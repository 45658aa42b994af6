"""The landing zone: Parquet per event type, partitioned by event date.

Layout: ``$SHOPFLOW_HOME/landing/<table_name(event_type)>/event_date=YYYY-MM-DD/<file>.parquet``.
Files are written under a temporary name and renamed, so readers never see a partial file.
Every writer (generator, importers, the streaming sink, the outbox relay) goes through here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shopflow import events
from shopflow.config import Settings, get_settings

PARTITION_KEY = "event_date"


def event_dir(event_type: str, settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    return settings.landing_dir / events.table_name(event_type)


def partition_dir(event_type: str, day: str, settings: Settings | None = None) -> Path:
    return event_dir(event_type, settings) / f"{PARTITION_KEY}={day}"


def write_table(
    event_type: str,
    table: pa.Table,
    settings: Settings | None = None,
    prefix: str = "part",
) -> list[Path]:
    """Write rows of one event type, split into date partitions. Returns the files written.

    ``table`` must hold the columns of ``events.arrow_schema(event_type)``; it is cast to it.
    """
    if table.num_rows == 0:
        return []
    schema = events.arrow_schema(event_type)
    table = table.select(schema.names).cast(schema)
    days = pc.cast(table["occurred_at"], pa.date32())  # occurred_at is UTC
    written: list[Path] = []
    for day in sorted(pc.unique(days).to_pylist()):
        part = table.filter(pc.equal(days, pa.scalar(day, pa.date32())))
        directory = partition_dir(event_type, day.isoformat(), settings)
        directory.mkdir(parents=True, exist_ok=True)
        final = directory / f"{prefix}-{uuid.uuid4().hex[:12]}.parquet"
        tmp = directory / f".{final.name}.tmp"
        pq.write_table(part, tmp, compression="zstd")
        os.replace(tmp, final)
        written.append(final)
    return written


def write_events(evs: Iterable[events.Envelope], settings: Settings | None = None) -> list[Path]:
    """Write validated events (any mix of types) to the landing zone."""
    by_type: dict[str, list[dict[str, object]]] = {}
    for event in evs:
        by_type.setdefault(event.event_type, []).append(event.to_row())
    written: list[Path] = []
    for event_type, rows in by_type.items():
        schema = events.arrow_schema(event_type)
        written += write_table(event_type, pa.Table.from_pylist(rows, schema=schema), settings)
    return written


def partitions(settings: Settings | None = None) -> Sequence[str]:
    """Sorted ``<table>/event_date=...`` partition ids present in the landing zone."""
    settings = settings or get_settings()
    root = settings.landing_dir
    if not root.exists():
        return []
    return sorted(
        f"{p.parent.name}/{p.name}"
        for p in root.glob(f"*/{PARTITION_KEY}=*")
        if any(p.glob("*.parquet"))
    )
