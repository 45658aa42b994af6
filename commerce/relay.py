"""The outbox relay: publishes outbox rows, in id order, to the event bus (Kafka protocol,
through ``shopflow.bus``) or, with no broker configured, to the landing zone; then stamps
them published. At least once: a relay killed between publish and stamp republishes that
batch on restart (consumers and the raw loader are idempotent on ``event_id``).

One relay publishes at a time: ``run`` holds a lease row (``relay_leases``), renewed every
batch; a second relay waits, and takes over when the holder stops or its lease lapses
(``Settings.relay_lease_s``). A relay that cannot publish gives its lease up at once and
backs off (``Settings.relay_failure_backoff_s``), so a standby that can publish takes over;
its producer is replaced after the failure (``shopflow.bus``), so it recovers by itself.
A holder stalled past its lease may still publish one batch the new holder also publishes:
duplicates stay possible, as at-least-once allows."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from commerce.db import rowcount, session_scope, utcnow
from commerce.db.models.commerce import RelayLease
from commerce.db.models.core import OutboxEvent
from shopflow import events, landing
from shopflow.config import Settings, get_settings

log = logging.getLogger(__name__)


class Sink(Protocol):
    name: str

    def publish(self, evs: Sequence[events.Envelope]) -> None:
        """Persist every event or raise; returning means all of them are stored."""

    def close(self) -> None: ...


class KafkaSink:
    """Topic and message key per event come from ``shopflow.topics`` (payments keyed by
    payment id, orders by order id, catalog by item id); waits for every broker ack."""

    name = "kafka"

    def __init__(self, settings: Settings, bootstrap: str | None = None) -> None:
        from shopflow.bus import EventProducer

        self._producer = EventProducer(settings, bootstrap)

    def publish(self, evs: Sequence[events.Envelope]) -> None:
        self._producer.send(evs)

    def close(self) -> None:
        self._producer.close(2.0)  # unconfirmed rows stay unstamped: republished later


class LandingSink:
    name = "landing"

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def publish(self, evs: Sequence[events.Envelope]) -> None:
        landing.write_events(evs, self._settings)

    def close(self) -> None:
        pass


def make_sink(settings: Settings | None = None, kafka: bool | None = None) -> Sink:
    """Kafka when KAFKA_BOOTSTRAP_SERVERS is set or ``kafka`` is asked for (the embedded
    broker then), else the landing zone."""
    settings = settings or get_settings()
    use_kafka = bool(settings.kafka_bootstrap_servers) if kafka is None else kafka
    return KafkaSink(settings) if use_kafka else LandingSink(settings)


def pending_count() -> int:
    from sqlalchemy import func

    with session_scope() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.published_at.is_(None))
            )
            or 0
        )


def relay_once(
    sink: Sink,
    batch_size: int = 500,
    after_publish: Callable[[list[int]], None] | None = None,
) -> int:
    """Publish one batch of unpublished rows; returns how many. ``after_publish`` runs
    between publish and stamp (tests inject a crash there)."""
    with session_scope() as session:
        rows = session.execute(
            select(OutboxEvent.id, OutboxEvent.envelope_json)
            .where(OutboxEvent.published_at.is_(None))
            .order_by(OutboxEvent.id)
            .limit(batch_size)
        ).all()
    if not rows:
        return 0
    ids = [row.id for row in rows]
    sink.publish([events.parse_event(row.envelope_json) for row in rows])
    if after_publish is not None:
        after_publish(ids)
    with session_scope() as session:
        session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_(ids), OutboxEvent.published_at.is_(None))
            .values(published_at=utcnow())
        )
    return len(ids)


LEASE = "outbox"


def new_holder() -> str:
    """A relay's identity for the lease: host, pid and a random part."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def acquire_lease(holder: str, lease_s: float, name: str = LEASE) -> bool:
    """Take or renew the lease ``name`` for ``lease_s`` seconds; False while another holder's
    lease runs."""
    now = utcnow()
    until = now + timedelta(seconds=lease_s)
    with session_scope() as session:
        renewed = session.execute(
            update(RelayLease)
            .where(
                RelayLease.name == name,
                or_(RelayLease.holder == holder, RelayLease.expires_at < now),
            )
            .values(holder=holder, expires_at=until)
        )
    if rowcount(renewed):
        return True
    try:
        with session_scope() as session:
            session.add(RelayLease(name=name, holder=holder, expires_at=until))
        return True
    except IntegrityError:  # someone holds it (or took it just now)
        return False


def release_lease(holder: str, name: str = LEASE) -> None:
    """Give the lease up (if still ours) so another relay can start at once."""
    with session_scope() as session:
        session.execute(
            update(RelayLease)
            .where(RelayLease.name == name, RelayLease.holder == holder)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


def run(
    sink: Sink,
    *,
    once: bool = False,
    batch_size: int | None = None,
    interval_s: float | None = None,
    stop: threading.Event | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Relay until ``stop`` is set (or, with ``once``, until the outbox is drained), while
    holding the relay lease (waiting for it when another relay has it). Returns the number
    of events published. A failing sink is retried after a pause."""
    settings = get_settings()
    batch_size = batch_size or settings.relay_batch_size
    interval_s = settings.relay_interval_s if interval_s is None else interval_s
    stop = stop or threading.Event()
    holder = new_holder()
    total = 0
    try:
        while not stop.is_set():
            if not acquire_lease(holder, settings.relay_lease_s):
                stop.wait(min(max(interval_s, 0.05), settings.relay_lease_s))
                continue
            started = time.perf_counter()
            try:
                count = relay_once(sink, batch_size)
            except Exception as exc:  # the broker or disk is down: keep rows, retry later
                if once:
                    raise
                log.warning("relay batch failed; lease released, retrying: %s", exc)
                release_lease(holder)  # never hold the lease while unable to publish
                stop.wait(settings.relay_failure_backoff_s)
                continue
            total += count
            if count:
                _log_batch(sink, count, started)
            if count and on_batch:
                on_batch(count)
            if count < batch_size:
                if once:
                    break
                stop.wait(interval_s)
    finally:
        release_lease(holder)
    return total


def _log_batch(sink: Sink, count: int, started: float) -> None:
    """One line per published batch, with the backlog still waiting (the relay's lag)."""
    log.info(
        "relay batch",
        extra={
            "sink": sink.name,
            "published": count,
            "backlog": pending_count(),
            "ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
