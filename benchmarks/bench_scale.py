"""Scale-out figures (issue 16), each a ratio to a baseline of the same run:

1. features consumer throughput (events/s, from the processes' start, so the group's join
   is inside both): two ``shopflow stream features`` processes in one consumer group
   against one process, same events on a fresh topic each;
2. publish (keys/s) and ``/recommendations`` (req/s, in-process ASGI client, one caller)
   on the 3-master Redis Cluster against one Redis started with the same flags (no
   persistence), same bundle and requests.

Each side is the best of two runs, interleaved.

Then ``benchmarks.bench_scale_spark.run()`` (the marts and ALS on Spark) when that module
exists. Starts its own broker (memory storage), Redis and cluster.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from confluent_kafka import Producer

from benchmarks.bench_streaming import shop_stream
from pipelines.publish import PublishBundle, RankedLists, publish
from shopflow import embedded, topics
from shopflow.config import Settings, get_settings
from shopflow.online_store import connect, keys
from tests.redis_cluster import redis_cluster, single_redis, url

N_EVENTS = 60_000
N_USERS, N_ITEMS, TOP_N = 20_000, 2_000, 20
N_REQUESTS = 1_500
ROOT = Path(__file__).resolve().parent.parent


def _produce(settings: Settings, n: int) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "linger.ms": 20})
    for event in shop_stream(n, seed=3):
        producer.produce(
            topics.topic_for(event.event_type).name(settings),
            event.model_dump_json(),
            topics.message_key(event),
        )
        producer.poll(0)
    producer.flush(60)


def _applied(client: connect.SyncClient) -> int:
    pattern = keys.seen_events("features", "*")
    return sum(int(client.hlen(k)) for k in client.scan_iter(match=pattern, count=1000))


def consumer_throughput(processes: int) -> float:
    """Events/s of ``processes`` consumers in one group over N_EVENTS on a fresh topic."""
    os.environ["SHOPFLOW_KAFKA_TOPIC_PREFIX"] = f"b{uuid.uuid4().hex[:8]}."
    get_settings.cache_clear()
    settings = get_settings()
    client = connect.connect(settings.redis_url or "", settings)
    client.flushall()
    _produce(settings, N_EVENTS)
    argv = [sys.executable, "-m", "cli.main", "stream", "features"]
    procs = [
        subprocess.Popen(argv, env=os.environ.copy(), cwd=ROOT, stderr=subprocess.DEVNULL)
        for _ in range(processes)
    ]
    started = time.perf_counter()  # from the start: the group's join counts for both sides
    try:
        while _applied(client) < N_EVENTS:
            time.sleep(0.05)
        return N_EVENTS / (time.perf_counter() - started)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)


def _bundle() -> PublishBundle:
    rng = np.random.default_rng(0)
    items = np.array([f"item-{i:05d}" for i in range(N_ITEMS)], dtype=object)
    users = [f"u{u}" for u in range(N_USERS)]
    idx = rng.integers(0, N_ITEMS, (N_USERS, TOP_N))
    scores = np.sort(rng.random((N_USERS, TOP_N), dtype=np.float32), axis=1)[:, ::-1]
    info = {str(i): {"title": str(i), "category": "c", "price_minor": 100, "stock": 5}
            for i in items}  # fmt: skip
    return PublishBundle(
        recs={keys.CHAMPION: RankedLists(users, items, idx, scores)},
        popular=[(str(items[j]), 1.0 / (j + 1)) for j in range(100)],
        items=info,
        models={keys.CHAMPION: ("bench", "1")},
    )


def store_figures(redis_url: str) -> tuple[float, float]:
    """(publish keys/s, /recommendations req/s) against ``redis_url``."""
    from fastapi.testclient import TestClient

    from commerce.auth import mint_token
    from serving.app import create_app

    os.environ["REDIS_URL"] = redis_url
    os.environ["SHOPFLOW_RATE_LIMITS_ENABLED"] = "false"
    get_settings.cache_clear()
    client = connect.connect(redis_url, decode_responses=True)
    client.flushall()
    bundle = _bundle()
    publish(client, bundle)  # warm-up
    report = publish(client, bundle)
    headers = {"Authorization": f"Bearer {mint_token('bench', ['service'])}"}
    with TestClient(create_app(), headers=headers) as api:
        for u in range(500):  # warm-up
            api.get(f"/recommendations/u{u}", params={"limit": 10})
        started = time.perf_counter()
        for r in range(N_REQUESTS):
            resp = api.get(f"/recommendations/u{r % N_USERS}", params={"limit": 10})
            assert resp.status_code == 200, resp.text
        req_s = N_REQUESTS / (time.perf_counter() - started)
    client.close()
    return report.keys_per_s, req_s


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Settings(home=Path(tmp))
        os.environ["SHOPFLOW_HOME"] = tmp
        os.environ["SHOPFLOW_KAFKA_STORAGE"] = "memory"
        os.environ["SHOPFLOW_KAFKA_PARTITIONS"] = '{"behaviour": 6, "orders": 2, "catalog": 2}'
        get_settings.cache_clear()
        try:
            os.environ["REDIS_URL"] = embedded.start_redis(home).url
            os.environ["KAFKA_BOOTSTRAP_SERVERS"] = embedded.start_kafka(home).url
            # best of two, interleaved (the machine is shared: a lone run is noise-prone)
            one = max(consumer_throughput(1), consumer_throughput(1))
            two = max(consumer_throughput(2), consumer_throughput(2))
            print(f"features consumer, {N_EVENTS:,} events, behaviour topic in 6 partitions:")
            print(f"  one process {one:,.0f} events/s; two in one group {two:,.0f} events/s; "
                  f"ratio two/one {two / one:.2f} (cores: {os.cpu_count()})")  # fmt: skip
            with (
                single_redis(Path(tmp) / "single") as port,
                redis_cluster(Path(tmp) / "cluster") as ports,
            ):
                single_url = f"redis://127.0.0.1:{port}/0"
                runs = [store_figures(u) for u in (single_url, url(ports)) * 2]
            single = tuple(max(a, b) for a, b in zip(runs[0], runs[2], strict=True))
            clustered = tuple(max(a, b) for a, b in zip(runs[1], runs[3], strict=True))
            print(f"publish ({N_USERS:,} users x top-{TOP_N}, {N_ITEMS:,} items): single Redis "
                  f"{single[0]:,.0f} keys/s, 3-master cluster {clustered[0]:,.0f} keys/s; "
                  f"ratio cluster/single {clustered[0] / single[0]:.2f}")  # fmt: skip
            print(f"/recommendations ({N_REQUESTS:,} requests, in-process, one caller): single "
                  f"{single[1]:,.0f} req/s, cluster {clustered[1]:,.0f} req/s; "
                  f"ratio cluster/single {clustered[1] / single[1]:.2f}")  # fmt: skip
        finally:
            embedded.stop_all(home)
    if importlib.util.find_spec("benchmarks.bench_scale_spark") is not None:
        importlib.import_module("benchmarks.bench_scale_spark").main()


if __name__ == "__main__":
    main()
