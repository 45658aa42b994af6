"""Publish throughput (keys/s) of ``pipelines.publish.publish`` against a raw pipelined redis-py
SET loop writing the same number of keys, both against a real Redis this script starts."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import redis

from pipelines.publish import PublishBundle, publish
from shopflow import services
from shopflow.config import Settings

N_USERS, N_ITEMS, TOP_N, CHUNK = 20_000, 5_000, 50, 2_000


def _bundle() -> PublishBundle:
    recs = [(f"i{j}", 1.0 / (j + 1)) for j in range(TOP_N)]
    users = {f"u{u}": recs for u in range(N_USERS)}
    return PublishBundle(
        recs={"champion": users, "als": users},
        similar={f"i{i}": recs[:30] for i in range(N_ITEMS)},
        popular=recs,
    )


def _raw(client: redis.Redis, n_keys: int, value: str) -> float:
    t0 = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for k in range(n_keys):
        pipe.set(f"raw:{k}", value)
        if (k + 1) % CHUNK == 0:
            pipe.execute()
    pipe.execute()
    return time.perf_counter() - t0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp))
        url = services.start_redis(settings).url
        try:
            client = redis.Redis.from_url(url)
            bundle = _bundle()
            value = json.dumps([[i, round(s, 6)] for i, s in bundle.popular])
            publish(client, bundle)  # warm-up
            report = publish(client, bundle)
            raw_s = _raw(client, report.keys_written, value)
            raw_rate = report.keys_written / raw_s
            print(f"baseline raw pipelined SET: {raw_rate:,.0f} keys/s ({report.keys_written:,})")
            print(f"publish: {report.keys_per_s:,.0f} keys/s ({report.seconds:.2f} s)")
            print(f"ratio publish/raw: {report.keys_per_s / raw_rate:.2f}")
            client.close()
        finally:
            services.stop("redis", settings)


if __name__ == "__main__":
    main()
