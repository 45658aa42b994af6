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
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import orjson

from commerce import client_keys
from commerce.errors import NotFound, Unavailable
from shopflow import embedded, events, ids, landing
from shopflow.config import Settings
from shopflow.experiments import (
    Assignment,
    Experiment,
    ExperimentsConfig,
    ExperimentsFileError,
    load_experiments,
)
from shopflow.experiments.evaluate import Evaluation, Evaluator, payload

log = logging.getLogger(__name__)

RECHECK_S = 1.0
"""``assign`` (once per recommendation) looks at the file's mtime at most this often."""
FLUSH_EVERY_S = 2.0
"""How often the exposure log is flushed in the background."""
ASSIGNED_CACHE = 100_000
"""Users whose assignment ``assign`` remembers (until the file changes)."""
EVALUATED_CACHE = 20_000
"""Attribute sets whose evaluation ``evaluate`` remembers (until the file changes)."""
EXPOSED_CACHE = 200_000
"""(user, experiment) pairs whose exposure was logged: later evaluations log none."""
_unserved: set[tuple[str, str, str]] = set()


class ExperimentsService:
    def __init__(self, settings: Settings, path: Path | None = None) -> None:
        self.path = Path(path or settings.experiments_file)
        self._mtime: tuple[int, int] | None = None
        self._config: ExperimentsConfig | None = None
        self._error: ExperimentsFileError | None = None
        self._recheck_at = 0.0
        self._assigned: dict[str, Assignment | None] = {}
        self._assigned_for: ExperimentsConfig | None = None  # the config ``_assigned`` is of
        self._evaluator: Evaluator | None = None
        self._payload: bytes | None = None
        self._exposed: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._evaluated: dict[bytes, dict[str, Evaluation]] = {}
        self._evaluated_for: Evaluator | None = None

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
            config = load_experiments(self.path)
            evaluator = Evaluator(config)  # compiled once per file version
        except ExperimentsFileError as exc:
            log.error("experiments disabled: %s", exc)
            self._config, self._error, self._evaluator = None, exc, None
        else:
            self._config, self._error, self._evaluator = config, None, evaluator
        self._payload = None

    def require_valid(self) -> None:
        """At startup: a server with an invalid experiments file refuses to start."""
        self._load()
        if self._error is not None:
            raise self._error

    def evaluator(self) -> Evaluator:
        """The compiled features (rechecked against the file at most every ``RECHECK_S``);
        a broken file is a 503 with its reasons."""
        now = time.monotonic()
        if now >= self._recheck_at:
            self._load()
            self._recheck_at = now + RECHECK_S
        if self._evaluator is None:
            raise Unavailable(str(self._error), errors=self._error.errors if self._error else [])
        return self._evaluator

    def evaluate_all(self, attributes: Mapping[str, object]) -> dict[str, Evaluation]:
        """Every feature for ``attributes``; remembered per attribute set (evaluation is
        deterministic for a config, and a storefront asks again for the same user)."""
        evaluator = self.evaluator()
        if evaluator is not self._evaluated_for or len(self._evaluated) >= EVALUATED_CACHE:
            self._evaluated, self._evaluated_for = {}, evaluator
        try:
            key = orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # not JSON-serialisable as a key (too deep): evaluate afresh
            return evaluator.evaluate_all(attributes)
        found = self._evaluated.get(key)
        if found is None:
            found = self._evaluated[key] = evaluator.evaluate_all(attributes)
        return found

    async def sdk_payload(self, client_key: str) -> bytes:
        """The GrowthBook SDK payload (JSON bytes, built once per file version) for a valid
        client key; an unknown or revoked key is a 404."""
        environment = await asyncio.to_thread(client_keys.environment_of, client_key)
        if environment is None:
            raise NotFound("unknown client key")
        evaluator = self.evaluator()
        if self._payload is None:
            self._payload = orjson.dumps(payload(evaluator.config))
        return self._payload

    def first_exposure(self, user_key: str, experiment_key: str) -> bool:
        """Whether this (user, experiment) exposure is new to this process (then remembered)."""
        pair = (user_key, experiment_key)
        if pair in self._exposed:
            self._exposed.move_to_end(pair)
            return False
        self._exposed[pair] = None
        if len(self._exposed) > EXPOSED_CACHE:
            self._exposed.popitem(last=False)
        return True

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
            self._load()
            self._recheck_at = now + RECHECK_S
            if self._config is not self._assigned_for or len(self._assigned) >= ASSIGNED_CACHE:
                self._assigned, self._assigned_for = {}, self._config
        if self._config is None:
            return None
        if user_id in self._assigned:  # deterministic for a config: hashing costs more
            return self._assigned[user_id]
        found = self._assigned[user_id] = self._assign_by_features(user_id)
        return found

    def _assign_by_features(self, user_id: str) -> Assignment | None:
        """The recommendation experiments are features whose value is the strategy: the first
        running one that includes the user decides (as ``assign_many``)."""
        if self._evaluator is None or not user_id:
            return None
        for experiment in self._evaluator.config.running:
            result = self._evaluator.evaluate(experiment.key, {"id": user_id})
            if result.experiment is not None:
                e = result.experiment
                return Assignment(e.experiment_key, e.variation_key, result.value,
                                  e.variation_id, e.bucket)  # fmt: skip
        return None


async def evaluate_features(
    experiments: ExperimentsService,
    exposures: ExposureLog,
    attributes: Mapping[str, object],
    keys: list[str] | None = None,
) -> dict[str, Evaluation]:
    """Every feature's (or the named ones') value for ``attributes``; each experiment that
    assigned a user is logged as an exposure once per user and experiment. Unknown feature
    keys are a 404; unknown attributes are ignored."""
    evaluated = experiments.evaluate_all(attributes)
    if keys is None:
        results = evaluated
    else:
        unknown = [k for k in keys if k not in evaluated]
        if unknown:
            raise NotFound(f"unknown feature(s): {', '.join(unknown)}")
        results = {key: evaluated[key] for key in keys}
    for result in results.values():
        e = result.experiment
        if e is not None and experiments.first_exposure(e.hash_value, e.experiment_key):
            await exposures.record(feature_exposure_event(result))
    return results


def feature_exposure_event(result: Evaluation) -> events.Envelope:
    """A feature experiment's exposure, on the stream the recommendation exposures use."""
    assert result.experiment is not None
    e = result.experiment
    payload = events.RecImpression(
        request_id=ids.uuid4_hex(),
        item_ids=[],
        model_name="feature",
        model_version="-",
        placement=f"feature:{result.key}",
        experiment_key=e.experiment_key,
        variant=e.variation_key,
    )
    return events.make_event("rec_impression", payload, user_id=e.hash_value)


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
