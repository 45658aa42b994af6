"""The event bus client side: confluent-kafka configs, topic creation, the event producer.

Every producer is idempotent with ``acks=all``; a send waits for the broker's delivery
reports, so "sent" means persisted. ``message.timeout.ms`` bounds how long librdkafka keeps
trying: after it, a message is reported failed and is never delivered later, so a caller
told "unavailable" can resend the same events (consumers are idempotent on ``event_id``).

A producer whose messages timed out, or that the broker fenced (a paused or restarted broker
answers every later message of that producer id with PRODUCER_FENCED) or that hit a fatal
error, is replaced by a new one on the next send: sends recover as soon as the broker is back.

A broker that crashed after recording a batch's sequence number but before storing the batch
answers the retry "duplicate sequence", which librdkafka reports as delivered, with an offset
of -1 (Tansu does this). Offsets on one partition only grow, so a report whose offset is
unknown or not above the last one seen there marks its message unconfirmed, and the send
produces it again before it returns: the copy may duplicate one that was stored, never lose
one (consumers are idempotent on ``event_id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic  # where confluent_kafka.admin imports it from

from shopflow import embedded, events, topics, tracing
from shopflow.config import Settings, get_settings

#: librdkafka's own log lines (connection failures...) go to Python logging, not stderr.
KAFKA_LOG = logging.getLogger("shopflow.kafka")
#: Message headers as confluent-kafka's ``produce`` types them.
Headers = list[tuple[str, str | bytes | None]]


#: Delivery errors after which a producer is replaced (its producer id or epoch is spent).
RETIRING_ERRORS = frozenset(
    {
        KafkaError._MSG_TIMED_OUT,
        KafkaError._FENCED,
        KafkaError._FATAL,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.UNKNOWN_PRODUCER_ID,
        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
    }
)


#: Sends of the unconfirmed messages of a send before it is refused as unavailable.
RESEND_ATTEMPTS = 3


class BusUnavailable(RuntimeError):
    """The broker did not confirm every message in time; nothing should be treated as sent."""


def bootstrap_servers(settings: Settings | None = None) -> str:
    """KAFKA_BOOTSTRAP_SERVERS, or the embedded broker (started if needed)."""
    return embedded.ensure_kafka(settings or get_settings())


def client_config(bootstrap: str, settings: Settings | None = None) -> dict[str, Any]:
    """What every Kafka client shares: the brokers and ``SHOPFLOW_KAFKA_OPTIONS`` (librdkafka
    pass-through: SASL, SSL, CA...), so producers, consumers and admin clients connect alike."""
    return {"bootstrap.servers": bootstrap, **(settings or get_settings()).kafka_options}


def producer_config(
    bootstrap: str, delivery_timeout_ms: int, settings: Settings | None = None, **overrides: Any
) -> dict[str, Any]:
    return {
        **client_config(bootstrap, settings),
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": delivery_timeout_ms,
        "socket.connection.setup.timeout.ms": min(delivery_timeout_ms, 5000),
        "logger": KAFKA_LOG,
        **overrides,
    }


#: Tansu answers a fetch empty when reading its storage takes longer than the fetch's wait;
#: reads from the durable store take tens of ms, so consumers wait at least this long.
DURABLE_FETCH_WAIT_MS = 200


def consumer_config(
    bootstrap: str, group_id: str, settings: Settings | None = None, **overrides: Any
) -> dict[str, Any]:
    settings = settings or get_settings()
    fetch_wait_ms = settings.stream_fetch_wait_ms
    if settings.kafka_storage == "durable":  # harmless on Kafka: data ends a wait at once
        fetch_wait_ms = max(fetch_wait_ms, DURABLE_FETCH_WAIT_MS)
    return {
        **client_config(bootstrap, settings),
        "group.id": group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": settings.kafka_session_timeout_ms,
        "heartbeat.interval.ms": max(100, settings.kafka_session_timeout_ms // 6),
        "fetch.wait.max.ms": fetch_wait_ms,
        "logger": KAFKA_LOG,
        **overrides,
    }


def ensure_topics(
    bootstrap: str,
    wanted: Iterable[topics.Topic] = topics.ALL_TOPICS,
    settings: Settings | None = None,
    timeout: float = 10.0,
    admin: AdminClient | None = None,
) -> list[str]:
    """Create the missing topics. Returns the names created. Raises BusUnavailable."""
    try:
        topics.check_partitions(settings)
    except ValueError as exc:
        raise BusUnavailable(str(exc)) from exc
    admin = admin or AdminClient(client_config(bootstrap, settings), logger=KAFKA_LOG)
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise BusUnavailable(f"broker {bootstrap} unreachable: {exc}") from exc
    missing = [t for t in wanted if t.name(settings) not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(t.name(settings), num_partitions=t.partition_count(settings)) for t in missing],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise BusUnavailable(f"could not create topic {name}: {exc}") from exc
        except TimeoutError as exc:  # a paused broker
            raise BusUnavailable(f"could not create topic {name}: no answer") from exc
    return created


class _OffsetWatch:
    """The last offset delivered on each partition, to tell a report that cannot be true.

    Only librdkafka's poll thread calls ``confirms``, so it needs no lock.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[str, int], int] = {}

    def confirms(self, msg: Message, resent: bool) -> bool:
        """Whether the broker gave ``msg`` a place of its own on its partition. A message sent
        again is taken at any offset it gets (a broker whose log was reset starts over)."""
        offset, where = msg.offset(), (msg.topic() or "", msg.partition() or 0)
        if offset is None or offset < 0 or (not resent and offset <= self._last.get(where, -1)):
            return False
        self._last[where] = offset
        return True


@dataclass
class _Pending:
    """Delivery reports of one send, counted down from librdkafka's poll thread."""

    expected: int
    watch: _OffsetWatch
    resent: bool = False  # a second send of unconfirmed messages
    generation: int = 0  # of the producer the batch went to
    errors: list[str] = field(default_factory=list)
    retire: bool = False  # an error that spends the producer
    unconfirmed: list[Message] = field(default_factory=list)  # "delivered" without a place
    done: threading.Event = field(default_factory=threading.Event)
    loop: asyncio.AbstractEventLoop | None = None
    future: asyncio.Future[None] | None = None

    def report(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.errors.append(err.str())
            if err.fatal() or err.code() in RETIRING_ERRORS:
                self.retire = True
        elif not self.watch.confirms(msg, self.resent):
            self.unconfirmed.append(msg)
        self.expected -= 1
        if self.expected == 0:
            self.done.set()
            if self.loop is not None and self.future is not None:
                self.loop.call_soon_threadsafe(_resolve, self.future)

    def refused(self, count: int, exc: BufferError | KafkaException) -> None:
        """``count`` messages the producer would not take (their reports will never come)."""
        self.expected -= count
        if isinstance(exc, BufferError):
            self.errors.append(f"producer queue full: {exc}")
        else:  # a producer in a fatal state refuses new messages
            self.errors.append(str(exc))
            self.retire = True


def _to_json(event: events.Envelope) -> bytes:
    return event.__pydantic_serializer__.to_json(event)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class EventProducer:
    """One idempotent producer per process, shared by threads and requests.

    A background thread serves delivery reports; ``send``/``asend`` produce a batch and wait
    until the broker acknowledged all of it, raising ``BusUnavailable`` otherwise.
    """

    def __init__(self, settings: Settings | None = None, bootstrap: str | None = None) -> None:
        self.settings = settings or get_settings()
        self.bootstrap = bootstrap or bootstrap_servers(self.settings)
        self.timeout_s = self.settings.events_delivery_timeout_ms / 1000
        self._admin = AdminClient(client_config(self.bootstrap, self.settings), logger=KAFKA_LOG)
        self._lock = threading.Lock()
        self._producer = self._new_producer()
        self._generation = 0  # bumped each time the producer is replaced
        self._healthy = False  # topics not verified yet
        self._routes: dict[str, tuple[str, Headers]] = {}
        self._watch = _OffsetWatch()
        self._fatal: str | None = None
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="bus-poll", daemon=True)
        self._poller.start()

    def _new_producer(self) -> Producer:
        conf = producer_config(
            self.bootstrap,
            self.settings.events_delivery_timeout_ms,
            self.settings,
            error_cb=self._on_error,
        )
        return Producer(conf)

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal = err.str()
            self._healthy = False

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._producer.poll(0.05)
            except KafkaException as exc:  # fatal (e.g. a restarted broker forgot our id)
                self._fatal = str(exc)
                self._healthy = False
                time.sleep(0.05)

    def _retire(self, generation: int, reason: str) -> None:
        """Mark the producer of ``generation`` for replacement (once, if still current)."""
        with self._lock:
            if generation == self._generation and not self._fatal:
                KAFKA_LOG.warning("replacing the event producer: %s", reason)
                self._fatal = reason
                self._healthy = False

    def _replace_if_spent(self) -> None:
        if not self._fatal:
            return
        with self._lock:
            if not self._fatal:
                return
            old, self._producer = self._producer, self._new_producer()
            self._generation += 1
            self._fatal = None
        # its messages were reported failed or will be (purged): their senders got 503
        threading.Thread(target=_dispose, args=(old,), name="bus-dispose", daemon=True).start()

    def ready(self) -> None:
        """Make sure the broker answers and the topics exist (after a failure, before a send)."""
        if self._healthy:
            return
        ensure_topics(self.bootstrap, settings=self.settings, timeout=2.0, admin=self._admin)
        self._healthy = True

    def _produce(self, evs: Sequence[events.Envelope], pending: _Pending) -> None:
        self._replace_if_spent()
        self.ready()
        produced = 0
        pending.generation = self._generation
        produce, report, routes = self._producer.produce, pending.report, self._routes
        traceparent = tracing.traceparent()  # the sampled request's trace goes along
        try:
            for event in evs:
                topic, headers = routes.get(event.event_type) or self._route(event.event_type)
                if traceparent is not None:
                    headers = [*headers, (tracing.TRACEPARENT, traceparent)]
                produce(
                    topic,
                    _to_json(event),  # bytes straight from the model's serializer
                    topics.message_key(event),
                    headers=headers,
                    on_delivery=report,
                )
                produced += 1
        except (BufferError, KafkaException) as exc:
            pending.refused(len(evs) - produced, exc)
        if pending.expected == 0:
            pending.done.set()

    def _resend(self, msgs: Sequence[Message], pending: _Pending) -> _Pending:
        """Produce again, as they were, messages reported delivered without a place."""
        KAFKA_LOG.warning("%d message(s) reported delivered with no offset; producing them "
                          "again", len(msgs))  # fmt: skip
        pending.generation, pending.resent = self._generation, True
        produced = 0
        try:
            for msg in msgs:  # a delivery report always names its topic and partition
                topic, partition = msg.topic() or "", msg.partition()
                self._producer.produce(
                    topic,
                    msg.value(),
                    msg.key(),
                    partition=-1 if partition is None else partition,  # -1: by the key
                    headers=msg.headers(),
                    on_delivery=pending.report,
                )
                produced += 1
        except (BufferError, KafkaException) as exc:
            pending.refused(len(msgs) - produced, exc)
        if pending.expected == 0:
            pending.done.set()
        return pending

    def _route(self, event_type: str) -> tuple[str, Headers]:
        """Topic name and headers of an event type (computed once per type)."""
        route: tuple[str, Headers] = (
            topics.topic_for(event_type).name(self.settings),
            [(topics.EVENT_TYPE_HEADER, event_type.encode())],
        )
        self._routes[event_type] = route
        return route

    def _check(self, pending: _Pending, finished: bool) -> None:
        if not finished:
            self._retire(pending.generation, "the broker did not confirm in time")
            raise BusUnavailable("the broker did not confirm the events in time")
        if pending.retire:
            self._retire(pending.generation, pending.errors[0])
        if pending.errors:
            self._healthy = False
            raise BusUnavailable(f"the broker rejected events: {pending.errors[0]}")

    def _pending(self, count: int, loop: asyncio.AbstractEventLoop | None = None) -> _Pending:
        future = loop.create_future() if loop is not None else None
        return _Pending(count, self._watch, loop=loop, future=future)

    def send(self, evs: Sequence[events.Envelope]) -> list[str]:
        """Produce and wait for every delivery report. Returns the event ids."""
        if not evs:
            return []
        with _publish_span(len(evs)):
            pending = self._pending(len(evs))
            self._produce(evs, pending)
            self._check(pending, pending.done.wait(self.timeout_s + 2.0))
            self._settle(pending)
        return [e.event_id for e in evs]

    async def asend(self, evs: Sequence[events.Envelope]) -> list[str]:
        """``send`` for an event loop: produce now, await the delivery reports."""
        if not evs:
            return []
        with _publish_span(len(evs)):
            loop = asyncio.get_running_loop()
            pending = self._pending(len(evs), loop)
            if not self._healthy or self._fatal:
                await asyncio.to_thread(self._produce, evs, pending)
            else:
                self._produce(evs, pending)
            finished = pending.done.is_set()
            if not finished:
                assert pending.future is not None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(pending.future), self.timeout_s + 2.0)
                finished = pending.done.is_set()
            self._check(pending, finished)
            if pending.unconfirmed:  # only after a broker crash: off the event loop
                await asyncio.to_thread(self._settle, pending)
        return [e.event_id for e in evs]

    def _settle(self, pending: _Pending) -> None:
        """Produce again what was reported delivered without a place, until the broker gives
        every message one; raises BusUnavailable after ``RESEND_ATTEMPTS`` sends."""
        for _ in range(RESEND_ATTEMPTS):
            if not pending.unconfirmed:
                return
            pending = self._resend(pending.unconfirmed, self._pending(len(pending.unconfirmed)))
            self._check(pending, pending.done.wait(self.timeout_s + 2.0))
        if pending.unconfirmed:
            raise BusUnavailable(
                f"the broker reported {len(pending.unconfirmed)} message(s) delivered with no "
                f"offset after {RESEND_ATTEMPTS} sends"
            )

    def close(self, timeout: float = 5.0) -> None:
        """Wait up to ``timeout`` for messages in flight, then drop the rest (their senders
        were not told they were sent, so nothing acknowledged is lost)."""
        deadline = time.monotonic() + timeout
        self._producer.flush(timeout)
        self._producer.purge()
        self._stop.set()
        self._poller.join(max(0.0, deadline - time.monotonic()))


def _publish_span(count: int) -> Any:
    """One PRODUCER span per batch sent (a no-op span unless tracing is configured)."""
    return tracing.tracer.start_as_current_span(
        "kafka publish",
        kind=tracing.SpanKind.PRODUCER,
        attributes={"messaging.system": "kafka", "messaging.batch.message_count": count},
    )


def _dispose(producer: Producer) -> None:
    """Fail what a replaced producer still holds (its senders answer 503) and let it go."""
    with contextlib.suppress(KafkaException):
        producer.purge()
        producer.flush(1.0)
