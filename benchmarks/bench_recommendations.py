"""``GET /recommendations/{user}`` throughput against a bare FastAPI endpoint returning constant
JSON. Both run under uvicorn with the same settings (1 worker, uvloop/httptools, no access log)
and are driven by the same load generator (wrk, else Python) in interleaved rounds of the same
duration, so that both see the same load of a shared machine.

The recommendations app is the real one (every router, the shipped experiments.yaml: half the
users get the ALS list, exposures logged). It reads a synthetic publish (20k users x 50 recs
for the champion and ALS, 5k items in 20 categories, purchases, blocked and out-of-stock items)
from a real Redis this script starts.
"""

from __future__ import annotations

import itertools
import json
import random

from benchmarks.loadgen import BASELINE_APP, Target, bearer, compare, redis_home, rounds_header
from benchmarks.loadgen import uvicorn_server as serve
from shopflow.online_store import keys

N_USERS, N_ITEMS, N_CATEGORIES, RECS_PER_USER = 20_000, 5_000, 20, 50
STRATEGIES = (keys.CHAMPION, "als")  # the shipped experiments.yaml serves ALS to half the users
ROUNDS, ROUND_S, WARMUP_S, CONNECTIONS = 5, 2, 2, 50


def publish_synthetic(redis_url: str, version: str = "bench", seed: int = 7) -> None:
    """A realistic published recommendation set, written as the recommender pipeline does."""
    import redis

    rng = random.Random(seed)
    client = redis.Redis.from_url(redis_url)
    items = [f"i{n}" for n in range(N_ITEMS)]
    pipe = client.pipeline(transaction=False)
    for n, item in enumerate(items):
        pipe.hset(
            keys.item_info(item),
            mapping={
                "title": f"Product {n}",
                "category": f"c{n % N_CATEGORIES}",
                "brand": f"b{n % 97}",
                "price_minor": rng.randrange(199, 99_999),
                "currency": "EUR",
                "stock": 0 if rng.random() < 0.02 else rng.randrange(1, 500),
                "blocked": 1 if rng.random() < 0.005 else 0,
            },
        )
    pipe.sadd(keys.BLOCKED_ITEMS, *rng.sample(items, 25))
    pipe.execute()
    weights = [1 / (rank + 1) for rank in range(N_ITEMS)]  # long-tailed popularity
    cumulative = list(itertools.accumulate(weights))
    popular = [[item, round(w * 1000, 3)] for item, w in zip(items, weights, strict=True)]
    pipe.set(keys.popular(version), json.dumps(popular[:200]))
    for user in range(N_USERS):
        for strategy in STRATEGIES:
            recs = rng.choices(items, cum_weights=cumulative, k=RECS_PER_USER * 2)
            unique = list(dict.fromkeys(recs))[:RECS_PER_USER]
            scored = [[item, round(1 - rank / 100, 4)] for rank, item in enumerate(unique)]
            pipe.set(keys.user_recs(version, f"u{user}", strategy), json.dumps(scored))
        pipe.sadd(keys.user_purchased(f"u{user}"), *rng.sample(unique, 3))
        if user % 1000 == 999:
            pipe.execute()
    pipe.hset(
        keys.publish_meta(version),
        mapping={
            "published_at": "2024-03-02T00:00:00+00:00",
            "champion.model": "shopflow-recommender",
            "champion.version": "1",
            "als.model": "shopflow-als",
            "als.version": "1",
            "popularity.model": "shopflow-popularity",
            "popularity.version": "1",
        },
    )
    pipe.set(keys.PUBLISH_POINTER, version)
    pipe.execute()
    client.close()


def _recommendation_paths(n: int = 5000, seed: int = 11) -> list[str]:
    """90% users with a batch list, 10% unknown users (popularity fallback)."""
    rng = random.Random(seed)
    return [
        f"/recommendations/u{rng.randrange(N_USERS)}?limit=10"
        if rng.random() < 0.9
        else f"/recommendations/new{rng.randrange(10**6)}?limit=10"
        for _ in range(n)
    ]


def main() -> None:
    recs_paths = _recommendation_paths()
    auth = bearer()  # a server-side caller (service token): every user's list
    with redis_home("bench-recs-", publish_synthetic) as env:
        print(rounds_header(CONNECTIONS, ROUNDS, ROUND_S))
        with (
            serve(BASELINE_APP, env, "/constant") as (base_url, base_pid),
            serve("serving.app:create_app", env, recs_paths[0], headers=auth) as (
                recs_url,
                recs_pid,
            ),
        ):
            targets = [
                Target("bare FastAPI constant JSON", base_url, base_pid, ["/constant"]),
                Target("GET /recommendations/{user}", recs_url, recs_pid, recs_paths, auth),
            ]
            compare(
                targets, rounds=ROUNDS, round_s=ROUND_S, warmup_s=WARMUP_S, connections=CONNECTIONS
            )


if __name__ == "__main__":
    main()
