"""Vectorised Arrow column builders: fixed-width string ids from integers, label lookups,
timestamps and whole event tables in the exact landing schema."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa

from shopflow import events

IdPart = str | tuple[np.ndarray | int, int]


def format_ids(n: int, *parts: IdPart) -> pa.StringArray:
    """``n`` fixed-width strings: each part is a constant or ``(integers, digits)``.

    ``format_ids(3, "u", (np.arange(3), 6))`` -> ``["u000000", "u000001", "u000002"]``,
    built as one byte matrix (no per-row Python).
    """
    width = sum(len(p) if isinstance(p, str) else p[1] for p in parts)
    buf = np.empty((n, width), dtype=np.uint8)
    col = 0
    for part in parts:
        if isinstance(part, str):
            raw = np.frombuffer(part.encode("ascii"), dtype=np.uint8)
            buf[:, col : col + raw.size] = raw
            col += raw.size
            continue
        values, digits = part
        rest = np.broadcast_to(np.asarray(values, dtype=np.int64), (n,)).copy()
        if n and (rest.min() < 0 or rest.max() >= 10**digits):
            raise ValueError(f"id number out of range for {digits} digits")
        for k in range(digits - 1, -1, -1):
            buf[:, col + k] = rest % 10 + 48
            rest //= 10
        col += digits
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf))


def labels(values: list[str] | tuple[str, ...] | pa.Array, index: np.ndarray) -> pa.Array:
    """``values[index]`` as an Arrow string array."""
    table = values if isinstance(values, pa.Array) else pa.array(list(values), pa.string())
    return table.take(pa.array(np.asarray(index, dtype=np.int64)))


def timestamps(micros: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(micros, dtype=np.int64), type=pa.timestamp("us", tz="UTC"))


@cache
def schema_of(event_type: str) -> pa.Schema:
    """``events.arrow_schema`` (derived from the models on every call), cached."""
    return events.arrow_schema(event_type)


def event_table(
    event_type: str,
    event_ids: pa.Array,
    occurred_us: np.ndarray,
    user_ids: pa.Array | None,
    session_ids: pa.Array | None,
    payload: Mapping[str, Any],
) -> pa.Table:
    """A table with exactly ``events.arrow_schema(event_type)``; missing optional payload
    columns are null. Payload values are Arrow arrays, numpy arrays or scalars."""
    schema = schema_of(event_type)
    n = len(occurred_us)
    envelope: dict[str, Any] = {
        "event_id": event_ids,
        "event_type": pa.repeat(pa.scalar(event_type), n),
        "schema_version": pa.repeat(pa.scalar(events.SCHEMA_VERSION, pa.int64()), n),
        "occurred_at": timestamps(occurred_us),
        "user_id": user_ids if user_ids is not None else pa.nulls(n, pa.string()),
        "session_id": session_ids if session_ids is not None else pa.nulls(n, pa.string()),
    }
    arrays = []
    for field in schema:
        value = envelope[field.name] if field.name in envelope else payload.get(field.name)
        if value is None:
            if not field.nullable:
                raise ValueError(f"{event_type}: column {field.name!r} is required")
            arrays.append(pa.nulls(n, field.type))
        elif isinstance(value, pa.Array | pa.ChunkedArray):
            arrays.append(value.cast(field.type) if value.type != field.type else value)
        elif isinstance(value, np.ndarray):
            arrays.append(pa.array(value, type=field.type))
        else:
            arrays.append(pa.repeat(pa.scalar(value, field.type), n))
    return pa.Table.from_arrays(arrays, schema=schema)
