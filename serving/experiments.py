"""Experiments in the API: the active experiments (experiments.yaml, reloaded when it changes),
a user's variant, and exposure logging.

An exposure is a ``rec_impression`` naming the experiment and variant. Exposures are buffered
and flushed in the background (and at shutdown): to the event bus when one is configured or
running, else straight to the landing zone; a failed bus send falls back to the landing zone,
so no exposure is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from commerce.errors import Unavailable
from shopflow import embedded, events, landing
from shopflow.config import Settings
from shopflow.experiments import (
    Assignment,
    Experiment,
    ExperimentsConfig,
    ExperimentsFileError,
    assign_many,
    load_experiments,
)

log = logging.getLogger(__name__)

RECHECK_S = 1.0
"""``assign`` (once per recommendation) looks at the file's mtime at most this often."""
FLUSH_EVERY_S = 2.0
"""How often the exposure log is flushed in the background."""
ASSIGNED_CACHE = 100_000
"""Users whose assignment ``assign`` remembers (until the file changes)."""
_unserved: set[tuple[str, str, str]] = set()


class ExperimentsService:
    def __init__(self, settings: Settings, path: Path | None = None) -> None:
        self.path = Path(path or settings.experiments_file)
        self._mtime: tuple[int, int] | None = None
        self._config: ExperimentsConfig | None = None
        self._error: ExperimentsFileError | None = None
        self._recheck_at = 0.0
        self._assigned: dict[str, Assignment | None] = {}

    def _load(self) -> None:
        try:
            stat = self.path.stat()
            mtime: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            mtime = None
        if mtime == self._mtime and (self._config or self._error):
            return
        self._mtime = mtime
        try:
            self._config, self._error = load_experiments(self.path), None
        except ExperimentsFileError as exc:
            log.error("experiments disabled: %s", exc)
            self._config, self._error = None, exc

    def active(self) -> list[Experiment]:
        """Running experiments; a broken file is a 503 with its reasons."""
        self._load()
        if self._error is not None:
            raise Unavailable(str(self._error), errors=self._error.errors)
        return self._config.running if self._config else []

    def assign(self, user_id: str) -> Assignment | None:
        """The user's variant in the first running experiment that includes them; None when
        there is none (a broken file disables experiments rather than recommendations)."""
        now = time.monotonic()
        if now >= self._recheck_at:  # a stat per request costs more than the assignment
            config = self._config
            self._load()
            self._recheck_at = now + RECHECK_S
            if self._config is not config or len(self._assigned) >= ASSIGNED_CACHE:
                self._assigned = {}
        if self._config is None:
            return None
        if user_id in self._assigned:  # deterministic for a config: hashing costs more
            return self._assigned[user_id]
        found = self._assigned[user_id] = assign_many(self._config.running, user_id)
        return found


def describe(experiment: Experiment) -> dict[str, Any]:
    return {
        "key": experiment.key,
        "name": experiment.name,
        "description": experiment.description,
        "status": experiment.status.value,
        "coverage": experiment.coverage,
        "hash_seed": experiment.hash_seed,
        "hash_version": 2,
        "control": experiment.control.key,
        "variants": [
            {"key": v.key, "weight": v.weight, "strategy": v.strategy} for v in experiment.variants
        ],
    }


def exposure_event(assignment: Assignment, body: dict[str, Any]) -> events.Envelope:
    """The ``rec_impression`` that records a user's exposure to their variant's list."""
    payload = events.RecImpression(
        request_id=str(body["request_id"]),
        item_ids=[str(i["item_id"]) for i in body.get("items", [])],
        model_name=str(body.get("model") or assignment.strategy),
        model_version=str(body.get("model_version") or "unknown"),
        placement="recommendations",
        experiment_key=assignment.experiment_key,
        variant=assignment.variant,
    )
    return events.make_event("rec_impression", payload, user_id=str(body["user_id"]))


class ExposureLog:
    """Buffered exposure writer: bus when available, landing zone otherwise."""

    def __init__(
        self,
        settings: Settings,
        producer: Callable[[], Any] | None = None,
        max_buffer: int = 5000,  # the 2 s flush writes most batches; a file per 500 cost a lot
    ) -> None:
        self.settings = settings
        #: returns the app's lazy producer (``async get()`` -> bus.EventProducer) or None
        self.producer = producer or (lambda: None)
        self.max_buffer = max_buffer
        self.buffer: list[events.Envelope] = []
        self._lock = asyncio.Lock()

    def _bus_available(self) -> bool:
        if self.producer() is None:
            return False
        if self.settings.kafka_bootstrap_servers:
            return True
        return embedded.status(self.settings).get("kafka") is not None

    async def record(self, event: events.Envelope) -> None:
        self.buffer.append(event)
        if len(self.buffer) >= self.max_buffer:
            await self.flush()

    async def flush(self) -> int:
        async with self._lock:
            batch, self.buffer = self.buffer, []
            if not batch:
                return 0
            if self._bus_available():
                try:
                    producer = await self.producer().get()  # type: ignore[union-attr]  # _bus_available() saw a producer
                    await producer.asend(batch)
                    return len(batch)
                except Exception as exc:  # noqa: BLE001 - any bus failure: keep the events
                    log.warning("exposures to landing zone, bus failed: %s", exc)
            await asyncio.to_thread(landing.write_events, batch, self.settings)
            return len(batch)


@contextlib.asynccontextmanager
async def flushing(exposures: ExposureLog, every_s: float = FLUSH_EVERY_S) -> AsyncIterator[None]:
    """Flush ``exposures`` every ``every_s`` seconds in the background, and once more at exit."""

    async def flush_forever() -> None:
        while True:
            await asyncio.sleep(every_s)
            await exposures.flush()

    task = asyncio.create_task(flush_forever())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await exposures.flush()


async def recommend(
    store: Any,
    query: Any,
    experiments: ExperimentsService,
    exposures: ExposureLog,
    *,
    explicit_strategy: bool = False,
) -> dict[str, Any]:
    """Recommendations where the user's experiment variant picks the strategy (unless the
    caller asked for one). The body names experiment and variant, and the exposure is logged.
    A variant whose strategy is not published serves the default and logs no exposure (an
    arm losing traffic that way shows up in the sample-ratio check)."""
    from dataclasses import replace

    from commerce.errors import Invalid
    from serving.recommendations import service as recs

    assignment = None if explicit_strategy else experiments.assign(query.user_id)
    if assignment is not None:
        try:
            body = await recs.recommend(store, replace(query, strategy=assignment.strategy))
        except Invalid as exc:
            reason = (assignment.experiment_key, assignment.variant, str(exc))
            if reason not in _unserved:  # once, not per request
                _unserved.add(reason)
                log.warning("variant %s not served: %s", assignment.variant, exc)
        else:
            body["variant"] = assignment.variant
            body["experiment_key"] = assignment.experiment_key
            await exposures.record(exposure_event(assignment, body))
            return body
    body = await recs.recommend(store, query)
    body["experiment_key"] = None
    return body
