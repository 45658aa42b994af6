"""The shared consumer loop: batching, contract validation, dead letters, commits, SIGTERM.

Per batch: take every message already fetched, up to ``stream_batch_size``, without
waiting; only when none is there, wait up to ``stream_batch_wait_ms`` for the first one (so
a batch is applied as soon as it arrives, and grows by itself under load). Decode each with
the event contract, hand the good ones to the processor, send the poison ones to the
dead-letter topic (waiting for the broker), then commit offsets, but only once the
processor says its work is durable: asynchronously and at most every
``stream_commit_interval_ms`` while streaming, synchronously on stop and on revoke. A
failing batch is rewound and retried, so nothing is skipped; processors are idempotent on
``event_id``, so offsets committed late only mean harmless re-reads after a crash.
SIGTERM/SIGINT finish the current batch, flush, commit and close, within
``Settings.shutdown_grace_s`` (``shopflow.shutdown``; what was not committed is re-read).

A ``StagedProcessor`` works in two stages: ``prepare`` (CPU work, in the loop's thread) and
``apply_prepared`` (e.g. a Redis round trip, in one worker thread, batches in order). While
batch N is applied, the loop fetches, decodes and prepares batch N+1 and queues it behind
N, so the worker goes on without waiting for this thread. Batch N's offsets become pending
only once it returned; if it failed, N+1 is skipped and both are rewound.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition
from pydantic import ValidationError

from pipelines.streaming import metrics
from shopflow import bus, events, shutdown, topics, tracing
from shopflow.config import Settings, get_settings

log = logging.getLogger("shopflow.stream")
Offsets = dict[tuple[str, int], int]  # (topic, partition) -> offset
#: Young-generation GC threshold while consuming: a batch allocates tens of thousands of
#: objects that live until it is applied, then go by reference counting. At 50,000 a scan of
#: the live batches ran about once a batch (2.5 us an event in the features consumer); at
#: 500,000 only cyclic garbage builds up to a scan.
GC_THRESHOLD = (500_000, 20, 20)


class Record(NamedTuple):  # a tuple: cheap to build once per message
    event: events.Envelope
    topic: str
    partition: int
    offset: int
    size: int  # bytes of the message value


class Processor(Protocol):
    """What a consumer group does with valid events. Must be idempotent on ``event_id``."""

    name: str
    topics: tuple[topics.Topic, ...]

    def process(self, records: list[Record]) -> int:
        """Apply a batch; return how many events were new (the rest were duplicates)."""

    def durable(self) -> bool:
        """Whether everything processed so far survives a crash (offsets may be committed)."""

    def tick(self) -> None:
        """Called every loop turn: time-based work such as rolling files."""

    def flush(self) -> None:
        """Make everything processed so far durable."""

    def close(self) -> None: ...


class StagedProcessor(Processor, Protocol):
    """A processor whose batches are prepared ahead, while the previous one is applied.
    ``process(records)`` must equal ``apply_prepared(prepare(records))``."""

    def prepare(self, records: list[Record]) -> Any:
        """The CPU share of a batch: must not write anything."""

    def apply_prepared(self, prepared: Any) -> int:
        """Apply what ``prepare`` returned; return how many events were new."""


class _Skipped(Exception):
    """A batch not applied because the batch before it failed."""


def group_id(name: str, settings: Settings | None = None) -> str:
    """Consumer group id of a processor name (carries the topic prefix)."""
    return (settings or get_settings()).kafka_topic_prefix + name


@dataclass
class _Batch:
    """A decoded batch: its records, dead letters, and offsets per (topic, partition)."""

    records: list[Record]
    poison: list[tuple[Message, str]]
    first: Offsets
    last: Offsets
    started: float = field(default_factory=time.perf_counter)
    prepared: Any = None  # a StagedProcessor's prepare() of the records, if done ahead
    future: Future[int] | None = None
    links: list[Any] = field(default_factory=list)  # to the traces that produced it


@dataclass
class RunStats:
    batches: int = 0
    consumed: int = 0
    applied: int = 0
    dead_letters: int = 0


class ConsumerRunner:
    def __init__(
        self,
        processor: Processor,
        settings: Settings | None = None,
        bootstrap: str | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.processor = processor
        self.settings = settings or get_settings()
        self.bootstrap = bootstrap or bus.bootstrap_servers(self.settings)
        self.batch_size = batch_size or self.settings.stream_batch_size
        self.wait_s = self.settings.stream_batch_wait_ms / 1000
        self.group = group_id(processor.name, self.settings)
        self.stats = RunStats()
        self._stop = threading.Event()
        self._pending: Offsets = {}  # (topic, partition) -> next offset, not committed yet
        self._inflight: Offsets = {}  # ... committed asynchronously, not confirmed
        self.commit_interval_s = self.settings.stream_commit_interval_ms / 1000
        self._commit_at = 0.0
        self._dlq: Producer | None = None
        self._lag_at = 0.0
        self._lag = 0  # messages behind, summed over the assigned partitions
        self._logged = RunStats()  # totals at the last batch log line
        self._log_at = 0.0
        self._worker: ThreadPoolExecutor | None = None
        self._staged: StagedProcessor | None = None
        if callable(getattr(processor, "prepare", None)):
            self._staged = processor  # type: ignore[assignment]  # has prepare(): a StagedProcessor
            self._worker = ThreadPoolExecutor(1, thread_name_prefix=f"{processor.name}-apply")
        self._inflight_batch: _Batch | None = None
        self._failed: Offsets | None = None  # first offsets of a batch that failed this turn
        self._broken = threading.Event()  # set by the worker when a batch fails
        self.consumer = Consumer(bus.consumer_config(self.bootstrap, self.group, self.settings))

    # ---- lifecycle -----------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def run(
        self, max_seconds: float | None = None, until: Callable[[RunStats], bool] | None = None
    ) -> RunStats:
        """Consume until stopped (SIGTERM/SIGINT, ``stop()``, ``max_seconds`` or ``until``)."""
        bus.ensure_topics(self.bootstrap, settings=self.settings)
        gc.freeze()  # start-up objects leave the collector's scans (batches allocate a lot)
        thresholds = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLD)
        restore = self._install_signals()
        names = [t.name(self.settings) for t in self.processor.topics]
        self.consumer.subscribe(names, on_assign=self._on_assign, on_revoke=self._on_revoke)
        deadline = time.monotonic() + max_seconds if max_seconds else None
        log.info("%s consuming %s from %s", self.group, ", ".join(names), self.bootstrap)
        try:
            while not self._stop.is_set():
                if deadline and time.monotonic() > deadline:
                    break
                self._turn()
                if until and until(self.stats):
                    break
            self._settle()
            self.processor.flush()
            self._commit()
        finally:
            self._settle()
            if self._worker is not None:
                self._worker.shutdown()
            self.consumer.close()
            self.processor.close()
            if self._dlq is not None:
                self._dlq.flush(2)
            gc.set_threshold(*thresholds)
            restore()
        log.info("%s stopped: %s", self.group, self.stats)
        return self.stats

    def _install_signals(self) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        grace = self.settings.shutdown_grace_s

        def on_signal(*_: object) -> None:
            self._stop.set()
            shutdown.exit_within(grace)  # a close stuck on a paused broker must not hang

        for sig in previous:
            signal.signal(sig, on_signal)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    # ---- one batch -----------------------------------------------------------------------
    def _poll(self) -> list[Message]:
        """What is already fetched (no wait), else the first message within ``wait_s`` and
        whatever arrived with it."""
        messages = self.consumer.consume(self.batch_size, 0)
        if not messages:
            messages = self.consumer.consume(1, self.wait_s)
            if messages and self.batch_size > 1:
                messages += self.consumer.consume(self.batch_size - 1, 0)
        return messages

    def _turn(self) -> None:
        messages = self._poll()
        self.processor.tick()
        batch = self._decode(messages) if messages else None
        if batch is not None:
            self._prepare_ahead(batch)
        queued = None
        if self._worker is None:
            if batch is not None:
                self._settle_batch(batch, self._apply, batch)
        else:
            if batch is not None:  # queued behind batch N: the worker goes on at once
                batch.future = self._worker.submit(self._apply_in_order, batch)
                queued = batch
            self._settle()  # batch N
        failed, self._failed = self._failed, None  # batch N failed (here or in a revoke)
        if failed is not None:
            if queued is not None:  # N+1 goes back too (its partitions that N did not rewind)
                self._discard(queued, failed)
            self._broken.clear()
            time.sleep(1.0)
        elif queued is not None:
            self._inflight_batch = queued
        self._commit_due()
        self._update_lag()

    def _apply_in_order(self, batch: _Batch) -> int:
        """In the worker: apply ``batch`` unless the batch before it failed (then it is
        rewound and fetched again, after it)."""
        if self._broken.is_set():
            raise _Skipped
        try:
            return self._apply(batch)
        except BaseException:
            self._broken.set()
            raise

    def _discard(self, batch: _Batch, rewound: Offsets) -> None:
        """Wait for a batch queued behind a failed one (it is skipped), then rewind its
        partitions that the failed batch did not."""
        if batch.future is not None:
            try:
                batch.future.result()
            except Exception as exc:
                log.debug("%s: batch behind a failed one: %r", self.group, exc)
        self._rewind({k: v for k, v in batch.first.items() if k not in rewound})

    def _prepare_ahead(self, batch: _Batch) -> None:
        """Prepare a staged batch in this thread; if that fails, the worker tries again and
        a second failure fails the batch."""
        if self._staged is None or not batch.records:
            return
        try:
            batch.prepared = self._staged.prepare(batch.records)
        except Exception as exc:
            log.debug("%s: preparing ahead failed: %s", self.group, exc)

    def _apply(self, batch: _Batch) -> int:
        """Process a batch's records and dead-letter its poison messages (in the worker
        thread when staged)."""
        with tracing.tracer.start_as_current_span(
            f"{self.processor.name} process",
            kind=tracing.SpanKind.CONSUMER,
            links=batch.links,
            attributes={
                "messaging.system": "kafka",
                "messaging.consumer.group.name": self.group,
                "messaging.batch.message_count": len(batch.records) + len(batch.poison),
            },
        ):
            applied = 0
            if batch.records and self._staged is not None:
                prepared = batch.prepared
                if prepared is None:
                    prepared = self._staged.prepare(batch.records)
                applied = self._staged.apply_prepared(prepared)
            elif batch.records:
                applied = self.processor.process(batch.records)
            if batch.poison:
                self._dead_letter(batch.poison)
            return applied

    def _settle(self) -> None:
        """Wait for the batch in flight, if any, and account for it."""
        batch, self._inflight_batch = self._inflight_batch, None
        if batch is not None and batch.future is not None:
            self._settle_batch(batch, batch.future.result)

    def _settle_batch(self, batch: _Batch, result: Callable[..., int], *args: _Batch) -> None:
        """``result(*args)`` is the batch's applied count: pending offsets on success; on a
        failure, rewind (``_turn`` waits before the next try)."""
        try:
            applied = result(*args)
        except Exception:
            log.exception("%s: batch failed; rewinding and retrying", self.group)
            metrics.RETRIES.labels(self.group).inc()
            self._rewind(batch.first)
            self._failed = {**(self._failed or {}), **batch.first}
            return
        self._count(batch.records, batch.poison, applied)
        for key, offset in batch.last.items():
            self._pending[key] = offset + 1
        metrics.BATCH_SECONDS.labels(self.group).observe(time.perf_counter() - batch.started)
        self._log_batches()

    def _log_batches(self, every_s: float = 1.0) -> None:
        """One line per batch, at most one a second under load (then with the totals since
        the last line): batches, messages, applied, dead letters and the lag."""
        now = time.monotonic()
        if now - self._log_at < every_s:
            return
        last, stats = self._logged, self.stats
        log.info(
            "%s batch",
            self.group,
            extra={
                "group": self.group,
                "batches": stats.batches - last.batches,
                "messages": stats.consumed - last.consumed,
                "applied": stats.applied - last.applied,
                "dead_letters": stats.dead_letters - last.dead_letters,
                "lag": self._lag,
            },
        )
        self._logged, self._log_at = RunStats(**vars(stats)), now

    def _decode(self, messages: list[Message]) -> _Batch:
        """Records, dead letters, and the first and last offset per (topic, partition)."""
        records: list[Record] = []
        poison: list[tuple[Message, str]] = []
        first: dict[tuple[str, int], int] = {}
        last: dict[tuple[str, int], int] = {}
        parse = events.parse_event
        for msg in messages:
            if msg.error() is not None:
                log.warning("%s: consume error %s", self.group, msg.error())
                continue
            topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
            if topic is None or partition is None or offset is None:  # set on every non-error
                continue
            key = (topic, partition)
            if key not in first:
                first[key] = offset
            last[key] = offset
            value = msg.value()
            try:
                if value is None:
                    raise ValueError("message has no value")
                event = parse(value)
            except Exception as exc:  # undecodable or off-contract: a dead letter
                poison.append((msg, _error_text(exc)))
                continue
            records.append(Record(event, topic, partition, offset, len(value)))
        batch = _Batch(records, poison, first, last)
        if tracing.enabled():
            batch.links = tracing.links(msg.headers() for msg in messages)
        return batch

    def _dead_letter(self, poison: list[tuple[Message, str]]) -> None:
        if self._dlq is None:
            self._dlq = Producer(
                bus.producer_config(
                    self.bootstrap, self.settings.events_delivery_timeout_ms, self.settings
                )
            )
        errors: list[str] = []
        for msg, error in poison:
            headers: bus.Headers = [
                (topics.DLQ_ERROR_HEADER, error.encode()),
                (topics.DLQ_SOURCE_HEADER, f"{msg.topic()}/{msg.partition()}/{msg.offset()}"),
                (topics.DLQ_CONSUMER_HEADER, self.group.encode()),
            ]
            self._dlq.produce(
                topics.DEAD_LETTER.name(self.settings),
                key=msg.key(),
                value=msg.value() or b"",
                headers=[*(msg.headers() or []), *headers],
                on_delivery=lambda err, _m: errors.append(err.str()) if err else None,
            )
        if self._dlq.flush(self.settings.events_delivery_timeout_ms / 1000 + 2) or errors:
            spent, self._dlq = self._dlq, None  # a fenced or timed-out producer is replaced
            spent.purge()
            raise bus.BusUnavailable(f"dead-letter topic did not confirm: {errors[:1]}")
        log.warning("%s: %d message(s) sent to the dead-letter topic", self.group, len(poison))

    def _count(
        self, records: list[Record], poison: list[tuple[Message, str]], applied: int
    ) -> None:
        self.stats.batches += 1
        self.stats.consumed += len(records) + len(poison)
        self.stats.applied += applied
        self.stats.dead_letters += len(poison)
        for topic, n in Counter(record.topic for record in records).items():
            metrics.MESSAGES.labels(self.group, topic, "processed").inc(n)
        if applied < len(records):
            metrics.MESSAGES.labels(self.group, "*", "duplicate").inc(len(records) - applied)
        for msg, _ in poison:
            metrics.MESSAGES.labels(self.group, msg.topic(), "dead_letter").inc()

    # ---- offsets -------------------------------------------------------------------------
    def _commit_due(self) -> None:
        """While streaming: commit durable offsets at most every ``stream_commit_interval_ms``
        and without waiting for the broker (a lost commit only means idempotent re-reads)."""
        if self._pending and time.monotonic() >= self._commit_at and self.processor.durable():
            self._commit(asynchronous=True)
            self._commit_at = time.monotonic() + self.commit_interval_s

    def _commit(self, only: set[tuple[str, int]] | None = None, asynchronous: bool = False) -> None:
        """Commit the pending offsets; a synchronous commit also re-commits the in-flight
        asynchronous ones (so stopping or a revoke leaves nothing unconfirmed)."""
        wanted = self._pending if asynchronous else {**self._inflight, **self._pending}
        keys = [k for k in wanted if only is None or k in only]
        if not keys:
            return
        offsets = [TopicPartition(t, p, wanted[(t, p)]) for t, p in keys]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=asynchronous)  # type: ignore[call-overload]  # the stub's overloads want a literal bool
        except KafkaException as exc:  # e.g. a rebalance: the next owner re-reads, idempotently
            log.warning("%s: commit failed: %s", self.group, exc)
            return
        for key in keys:
            offset = self._pending.pop(key, None)
            if asynchronous:
                self._inflight[key] = offset if offset is not None else wanted[key]
            else:
                self._inflight.pop(key, None)
        metrics.LAST_COMMIT.labels(self.group).set_to_current_time()

    def _rewind(self, first: dict[tuple[str, int], int]) -> None:
        for (topic, partition), offset in first.items():
            try:
                self.consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:  # partition revoked meanwhile
                log.warning("%s: seek failed: %s", self.group, exc)

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("%s assigned %s", self.group, [(p.topic, p.partition) for p in partitions])

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = {(p.topic, p.partition) for p in partitions}
        try:
            self._settle()
            self.processor.flush()
            self._commit(only=revoked)
        finally:
            for key in revoked:
                self._pending.pop(key, None)
                self._inflight.pop(key, None)
                metrics.LAG.remove(self.group, key[0], str(key[1]))

    def _update_lag(self) -> None:
        now = time.monotonic()
        if now - self._lag_at < 1.0:
            return
        self._lag_at = now
        try:
            assignment = self.consumer.assignment()
            lag = 0
            for tp in self.consumer.position(assignment):
                _, high = self.consumer.get_watermark_offsets(tp, cached=True)
                if tp.offset >= 0 and high >= 0:
                    behind = max(0, high - tp.offset)
                    metrics.LAG.labels(self.group, tp.topic, str(tp.partition)).set(behind)
                    lag += behind
            self._lag = lag
        except KafkaException as exc:
            log.debug("%s: lag unavailable: %s", self.group, exc)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        text = exc.json(include_url=False, include_input=False)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return text[:2000]
