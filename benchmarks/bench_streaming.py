"""The features consumer against the event bus, two figures, each with a baseline of the
same run on the same broker and data:

1. throughput (events/s) of ``ConsumerRunner(FeaturesProcessor)`` against a raw
   confluent-kafka consume loop that does no work, over the same topic and messages;
2. end-to-end latency, produce -> applied in Redis (each event's applied-mark holds the time
   its batch was sent to Redis, written in the same atomic script as its features; the
   script's own mean time per batch is printed beside it), p50 and p99,
   producing at a fixed 2,000 events/s for ~10 s with the consumer in its own process
   (``shopflow stream features``, default settings), against the produce -> received
   latency of a raw consumer at the same rate.

Also CPU per event (consumer process, Redis server, broker), steadier than wall time on a shared
machine. Goals: >= 50,000 events/s per consumer; p99 < 500 ms. Starts its own Redis and broker
(storage per ``SHOPFLOW_KAFKA_STORAGE``: ``memory`` or ``durable``).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from confluent_kafka import Consumer, Producer

from pipelines.streaming.features import FeaturesProcessor, seen_key
from pipelines.streaming.runner import ConsumerRunner, RunStats
from shopflow import bus, embedded, events, topics
from shopflow.config import Settings, get_settings
from shopflow.online_store import keys

N_EVENTS = 100_000
N_USERS, N_ITEMS, N_CATEGORIES = 20_000, 10_000, 30
RATE, LATENCY_S = 2_000, 10.0
ROOT = Path(__file__).resolve().parent.parent


def shop_stream(n: int, seed: int = 1) -> list[events.Envelope]:
    """Behaviour and orders with long-tailed item popularity: N_USERS users picked at random
    (so most users have one event per batch: little to aggregate), a session per user per
    4,000 events, event times spread over the last hour."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) ** 0.8 for rank in range(N_ITEMS)]
    items = [f"i{k}" for k in range(N_ITEMS)]
    picks = rng.choices(items, weights=weights, k=n + 3 * n // 20)
    now = datetime.now(UTC)
    out: list[events.Envelope] = []
    for i in range(n):
        user = f"u{rng.randrange(N_USERS)}"
        env = {"user_id": user, "session_id": f"{user}-{i // 4000}",
               "occurred_at": now - timedelta(seconds=rng.uniform(0, 3600))}  # fmt: skip
        kind, item = rng.random(), picks[i]
        if kind < 0.78:
            out.append(events.make_event("product_view", {"item_id": item}, **env))
        elif kind < 0.83:
            click = {"request_id": "r1", "item_id": item, "position": 1, "model_version": "1"}
            out.append(events.make_event("rec_click", click, **env))
        elif kind < 0.93:
            cart = {"item_id": item, "quantity": 1, "unit_price_minor": 1999, "currency": "EUR"}
            out.append(events.make_event("add_to_cart", cart, **env))
        elif kind < 0.96:
            out.append(
                events.make_event("remove_from_cart", {"item_id": item, "quantity": 1}, **env)
            )
        elif kind < 0.98:
            lines = [{"item_id": picks[n + i // 10 + k], "quantity": 1, "unit_price_minor": 1999}
                     for k in range(rng.randint(1, 3))]  # fmt: skip
            order = {"order_id": f"o{i}", "lines": lines, "total_minor": 1999 * len(lines),
                     "currency": "EUR"}  # fmt: skip
            out.append(events.make_event("order_placed", order, **env))
        else:
            start = {"traffic_source": "direct", "device": "mobile"}
            out.append(events.make_event("session_start", start, **env))
    return out


def produce(settings: Settings, evs: list[events.Envelope]) -> None:
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "linger.ms": 20, "acks": "all"}
    )
    for event in evs:
        topic = topics.topic_for(event.event_type).name(settings)
        while True:
            try:
                producer.produce(topic, event.model_dump_json(), topics.message_key(event))
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(60):
        raise RuntimeError("the broker did not take the benchmark's events")


def _rate(first_at: float | None, done_at: float, counted: int) -> float:
    return counted / (done_at - first_at) if first_at and done_at > first_at else float("nan")


def raw_throughput(settings: Settings, names: list[str], total: int) -> float:
    """Events/s of a consume loop that does nothing, from its first message (join excluded)."""
    consumer = Consumer(
        bus.consumer_config(settings.kafka_bootstrap_servers or "", uuid.uuid4().hex)
    )
    consumer.subscribe(names)
    seen, first_at, counted = 0, None, 0
    deadline = time.monotonic() + 120
    while seen < total and time.monotonic() < deadline:
        got = len(consumer.consume(settings.stream_batch_size, 0.1))
        if got and first_at is None:
            first_at = time.perf_counter()
        elif first_at is not None:
            counted += got
        seen += got
    done = time.perf_counter()
    consumer.close()
    return _rate(first_at, done, counted)


def features_throughput(settings: Settings, client: redis.Redis, total: int) -> float:
    """Events/s of the features consumer, from the end of its first batch (join excluded)."""
    runner = ConsumerRunner(FeaturesProcessor(client, settings), settings)
    marks: dict[str, float | int] = {}

    def until(stats: RunStats) -> bool:
        if "first" not in marks and stats.consumed:
            marks["first"], marks["at_first"] = time.perf_counter(), stats.consumed
        return stats.consumed >= total

    stats = runner.run(max_seconds=180, until=until)
    done = time.perf_counter()
    if stats.applied != total:
        raise RuntimeError(f"applied {stats.applied} of {total}")
    return _rate(marks.get("first"), done, stats.consumed - int(marks.get("at_first", 0)))


def _paced(settings: Settings, evs: list[events.Envelope], sent: dict[str, float]) -> None:
    """Produce ``evs`` at RATE a second, noting each one's send time (epoch seconds), with the
    producer settings Shopflow's own producers use (``bus.producer_config``: idempotent,
    ``acks=all``, 5 ms linger)."""
    bootstrap = settings.kafka_bootstrap_servers or ""
    producer = Producer(bus.producer_config(bootstrap, 30_000, settings))
    start = time.perf_counter()
    for i, event in enumerate(evs):
        delay = start + i / RATE - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        topic = topics.topic_for(event.event_type).name(settings)
        value = event.model_dump_json()
        sent[event.event_id] = time.time()
        producer.produce(topic, value, topics.message_key(event))
        producer.poll(0)
    producer.flush(30)


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


def raw_latency(settings: Settings, evs: list[events.Envelope], names: list[str]) -> list[float]:
    """produce -> received by a raw consumer that already joined its group."""
    config = bus.consumer_config(settings.kafka_bootstrap_servers or "", uuid.uuid4().hex, settings)
    consumer = Consumer({**config, "auto.offset.reset": "latest"})
    consumer.subscribe(names)
    while not consumer.assignment():
        consumer.consume(1, 0.1)
    sent: dict[str, float] = {}
    got: list[float] = []
    producer = threading.Thread(target=_paced, args=(settings, evs, sent))
    producer.start()
    deadline = time.monotonic() + LATENCY_S + 30
    while len(got) < len(evs) and time.monotonic() < deadline:
        for message in consumer.consume(1000, 0.05):
            now = time.time()
            event_id = events.parse_event(message.value() or b"").event_id
            if event_id in sent:  # (Tansu may replay older messages to a "latest" reset)
                got.append(now - sent[event_id])
    producer.join()
    consumer.close()
    return got


def features_latency(
    settings: Settings, client: redis.Redis, evs: list[events.Envelope]
) -> list[float]:
    """produce -> applied in Redis, the consumer in its own process with default settings.
    Each event's applied-mark holds the time its batch was sent to the script that applied
    it (epoch ms), so nothing polls Redis while the events flow."""
    argv = [sys.executable, "-m", "cli.main", "stream", "features"]
    proc = subprocess.Popen(argv, env=os.environ.copy(), cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        warm = shop_stream(50, seed=99)
        produce(settings, warm)
        deadline = time.monotonic() + 60
        while not client.hexists(seen_key(warm[-1]), warm[-1].event_id):
            if time.monotonic() > deadline:
                raise TimeoutError("the features consumer did not start")
            time.sleep(0.05)  # the consumer joined and caught up
        sent: dict[str, float] = {}
        _paced(settings, evs, sent)
        by_key: dict[str, list[str]] = {}
        for event in evs:
            by_key.setdefault(seen_key(event), []).append(event.event_id)
        applied: dict[str, float] = {}
        deadline = time.monotonic() + 30
        while len(applied) < len(evs) and time.monotonic() < deadline:
            for key, ids in by_key.items():
                marks = client.hmget(key, ids)
                applied.update((i, float(m)) for i, m in zip(ids, marks, strict=True) if m)
            time.sleep(0.2)
        return [applied[i] / 1000 - sent[i] for i in applied]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    """Throughput on the broker storage of ``SHOPFLOW_KAFKA_STORAGE`` (default durable); the
    latency on that storage and, when it is durable, also on a memory broker: the durable
    embedded broker's store bounds produce -> fetch, so the memory run shows what the consumer
    itself adds."""
    storage = get_settings().kafka_storage
    with _servers(storage) as (settings, client, broker_pid):
        names = [t.name(settings) for t in topics.EVENT_TOPICS]
        evs = shop_stream(N_EVENTS)
        started = time.perf_counter()
        produce(settings, evs)
        print(f"produced {N_EVENTS} events in {time.perf_counter() - started:.1f} s "
              f"(broker storage {storage}; SHOPFLOW_KAFKA_STORAGE)")  # fmt: skip
        pids = (os.getpid(), int(client.info("server")["process_id"]), broker_pid)
        cpu = [_cpu_s(pid) for pid in pids]
        raw = raw_throughput(settings, names, N_EVENTS)
        cpu_raw = [_cpu_s(pid) - before for pid, before in zip(pids, cpu, strict=True)]
        cpu = [_cpu_s(pid) for pid in pids]
        ours = features_throughput(settings, client, N_EVENTS)
        cpu_ours = [_cpu_s(pid) - before for pid, before in zip(pids, cpu, strict=True)]
        per = 1e6 / N_EVENTS
        print(f"raw consume loop (no work)   {raw:10.0f} events/s   CPU/event: consumer "
              f"{cpu_raw[0] * per:.1f} us, broker {cpu_raw[2] * per:.1f} us")  # fmt: skip
        print(f"features consumer            {ours:10.0f} events/s   CPU/event: consumer "
              f"{cpu_ours[0] * per:.1f} us, Redis {cpu_ours[1] * per:.1f} us, "
              f"broker {cpu_ours[2] * per:.1f} us")  # fmt: skip
        print(f"throughput ratio features/raw: {ours / raw:.3f}  (goal: >= 50,000 events/s)")
        _latency(settings, client, names, storage)
    if storage == "durable":
        with _servers("memory") as (settings, client, _):
            _latency(settings, client, [t.name(settings) for t in topics.EVENT_TOPICS], "memory")


def _latency(settings: Settings, client: redis.Redis, names: list[str], storage: str) -> None:
    base = _percentiles(raw_latency(settings, shop_stream(RATE * 5, seed=2), names))
    paced = shop_stream(int(RATE * LATENCY_S), seed=3)
    client.config_resetstat()
    mine = _percentiles(features_latency(settings, client, paced))
    script = client.info("commandstats").get("cmdstat_evalsha", {"calls": 0, "usec": 0})
    script_ms = script["usec"] / max(script["calls"], 1) / 1000
    at = f"at {RATE} events/s, {storage} broker:"
    print(f"{at} raw consumer p50 {base[0]:.1f} ms  p99 {base[1]:.1f} ms")
    print(f"{at} visible in Redis p50 {mine[0]:.1f} ms  p99 {mine[1]:.1f} ms  (sent to the "
          f"script; it then ran {script_ms:.2f} ms a batch on average)")  # fmt: skip
    print(f"{at} latency ratio features/raw: p50 {mine[0] / base[0]:.2f}  "
          f"p99 {mine[1] / base[1]:.2f}  (goal: p99 < 500 ms)")  # fmt: skip


@contextlib.contextmanager
def _servers(storage: str) -> Iterator[tuple[Settings, redis.Redis, int]]:
    """A fresh home with its own Redis and broker (``storage``), this process's settings
    pointed at them; yields (settings, a Redis client, the broker's pid)."""
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        home = Settings(home=Path(tmp), kafka_storage=storage)
        home.ensure_dirs()
        names = ("SHOPFLOW_HOME", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "SHOPFLOW_KAFKA_STORAGE")
        saved = {k: os.environ.get(k) for k in names}
        try:
            os.environ["SHOPFLOW_HOME"] = tmp
            os.environ["SHOPFLOW_KAFKA_STORAGE"] = storage
            os.environ["REDIS_URL"] = embedded.start_redis(home).url
            broker = embedded.start_kafka(home)
            os.environ["KAFKA_BOOTSTRAP_SERVERS"] = broker.url
            get_settings.cache_clear()
            settings = get_settings()
            client = redis.Redis.from_url(settings.redis_url or "")
            _categories(client)
            bus.ensure_topics(settings.kafka_bootstrap_servers or "", settings=settings)
            yield settings, client, broker.pid
            client.close()
        finally:
            embedded.stop_all(home)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            get_settings.cache_clear()


def _categories(client: redis.Redis) -> None:
    pipe = client.pipeline(transaction=False)
    for k in range(N_ITEMS):
        pipe.hset(keys.item_info(f"i{k}"), "category", f"c{k % N_CATEGORIES}")
    pipe.execute()


if __name__ == "__main__":
    main()
