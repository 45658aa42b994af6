"""Collects one day's generated events per type and assigns deterministic event ids."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
import pyarrow as pa

from shopflow import events
from shopflow.synth.columns import event_table, format_ids

TYPE_CODE = {event_type: code for code, event_type in enumerate(events.PAYLOADS)}


class DayEvents:
    """Event tables of one simulated day. Event ids are ``<run tag><type><day><counter>``,
    so they are the same for the same run parameters however the run is chunked."""

    def __init__(self, tag: str, day: int, user_ids: pa.StringArray) -> None:
        self.tag = tag
        self.day = day
        self.user_ids = user_ids
        self.parts: dict[str, list[pa.Table]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)

    def ids(self, prefix: str, n: int, digits: int = 8) -> pa.StringArray:
        """Per-day entity ids (sessions, orders, ...): ``<prefix><tag><day><counter>``."""
        return format_ids(n, prefix, self.tag, (self.day, 4), (np.arange(n), digits))

    def add(
        self,
        event_type: str,
        occurred_us: np.ndarray,
        user: np.ndarray | None,
        session_ids: pa.Array | None,
        **payload: Any,
    ) -> None:
        n = len(occurred_us)
        if n == 0:
            return
        start = self.counts[event_type]
        self.counts[event_type] += n
        event_ids = format_ids(
            n, self.tag, (TYPE_CODE[event_type], 2), (self.day, 4), (np.arange(start, start + n), 9)
        )
        users = None if user is None else self.user_ids.take(pa.array(user))
        self.parts[event_type].append(
            event_table(event_type, event_ids, occurred_us, users, session_ids, payload)
        )

    def tables(self) -> dict[str, pa.Table]:
        return {t: pa.concat_tables(parts) for t, parts in self.parts.items()}
