"""Publish throughput (keys/s) of ``pipelines.publish.publish`` against a raw pipelined redis-py
SET loop writing the same number of keys with values of the same size, both against a real
Redis this script starts. Target ratio >= 0.8 (issue 17).

The bundle has the shape the pipeline builds (``RankedLists`` arrays straight from the models:
two strategies x 20k users x top-50, 5k items x 30 neighbours). ``publish`` also encodes every
list (the raw loop sends ready-made bytes), takes the lock, writes the meta hash, flips the
pointer and expires the previous version. Each side runs once to warm up, then best of 5
interleaved rounds; the range is of the per-round ratios.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import cast

import numpy as np
import redis

from pipelines.publish import PublishBundle, RankedLists, publish
from shopflow import embedded
from shopflow.config import Settings

N_USERS, N_ITEMS, TOP_N, SIMILAR_N, CHUNK, REPEATS = 20_000, 5_000, 50, 30, 10_000, 5


def _ranked(owners: list[str], items: np.ndarray, n: int, rng: np.random.Generator) -> RankedLists:
    idx = rng.integers(0, len(items), (len(owners), n))
    scores = np.sort(rng.random((len(owners), n), dtype=np.float32), axis=1)[:, ::-1]
    return RankedLists(owners, items, idx, scores)


def bundle() -> PublishBundle:
    rng = np.random.default_rng(0)
    items = np.array([f"item-{i:06d}" for i in range(N_ITEMS)], dtype=object)
    users = [f"user-{u:07d}" for u in range(N_USERS)]
    popular = [(str(items[j]), 1.0 / (j + 1)) for j in range(TOP_N)]
    return PublishBundle(
        recs={s: _ranked(users, items, TOP_N, rng) for s in ("champion", "als")},
        similar=_ranked(list(items), items, SIMILAR_N, rng),
        popular=popular,
    )  # fmt: skip


def raw_set_loop(client: redis.Redis, values: list[bytes]) -> float:
    t0 = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for k, value in enumerate(values):
        pipe.set(f"raw:{k}", value)
        if (k + 1) % CHUNK == 0:
            pipe.execute()
    pipe.execute()
    return time.perf_counter() - t0


def raw_mset(client: redis.Redis, values: list[bytes]) -> float:
    t0 = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for start in range(0, len(values), 1_000):
        flat: list = []
        for k in range(start, min(start + 1_000, len(values))):
            flat += (f"mset:{k}", values[k])
        pipe.execute_command("MSET", *flat)
    pipe.execute()
    return time.perf_counter() - t0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp))
        url = embedded.start_redis(settings).url
        try:
            client = redis.Redis.from_url(url)
            data = bundle()
            report = publish(client, data, chunk_size=CHUNK)  # warm-up
            n_keys = report.keys_written
            version = report.version
            names = list(client.scan_iter(f"*{version}*", count=10_000, _type="string"))
            values = [
                cast(bytes, v)  # the client does not decode, and every key exists
                for s in range(0, len(names), 5_000)
                for v in client.mget(names[s : s + 5_000])
            ]
            values = (values * (n_keys // len(values) + 1))[:n_keys]  # same sizes, same count
            raw_set_loop(client, values)
            ours, raw, mset = [], [], []
            for _ in range(REPEATS):
                ours.append(publish(client, data, chunk_size=CHUNK).seconds)
                raw.append(raw_set_loop(client, values))
                mset.append(raw_mset(client, values))
            size = sum(map(len, values)) / len(values)
            print(f"{n_keys:,} keys per publish, {size:.0f} bytes per value on average")
            raw_rate, ours_rate = n_keys / min(raw), n_keys / min(ours)
            print(f"baseline raw pipelined SET loop: {raw_rate:,.0f} keys/s")
            print(f"reference raw MSET of ready values: {n_keys / min(mset):,.0f} keys/s")
            print(f"publish (encode + write + flip + expire): {ours_rate:,.0f} keys/s "
                  f"({min(ours):.2f} s)")  # fmt: skip
            rounds = [r / o for o, r in zip(ours, raw, strict=True)]
            print(f"ratio publish/raw SET loop: {ours_rate / raw_rate:.2f} "
                  f"(rounds {min(rounds):.2f}-{max(rounds):.2f}; target >= 0.8)")  # fmt: skip
            client.close()
        finally:
            embedded.stop("redis", settings)


if __name__ == "__main__":
    main()
