"""``GET /recommendations/{user}`` throughput against a bare FastAPI endpoint returning constant
JSON. Both run under uvicorn with the same settings (1 worker, uvloop/httptools, no access log)
and are driven by the same load generator (wrk, else Python) in interleaved rounds of the same
duration, so that both see the same load of a shared machine.

The recommendations app is the real one (every router, the shipped experiments.yaml: half the
users get the ALS list, exposures logged). It reads a synthetic publish (20k users x 50 recs
for the champion and ALS, 5k items in 20 categories with 20 neighbours each, purchases, blocked
and out-of-stock items) and real-time state as the features consumer writes it (every fifth
user active, with 3-10 items touched in the last minutes; session co-views; trending) from a
real Redis this script starts. Two rows: the usual mix of users, and active users alone (their
answers merge real-time neighbours with the batch list).
"""

from __future__ import annotations

import itertools
import json
import random
import time
from typing import TYPE_CHECKING

from benchmarks.loadgen import BASELINE_APP, Target, bearer, compare, redis_home, rounds_header
from benchmarks.loadgen import uvicorn_server as serve
from shopflow.online_store import keys

if TYPE_CHECKING:
    from redis.client import Pipeline

N_USERS, N_ITEMS, N_CATEGORIES, RECS_PER_USER = 20_000, 5_000, 20, 50
ACTIVE_EVERY, NEIGHBOURS, COVIEWS = 5, 20, 20  # every fifth user has touched items lately
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
    _realtime_state(pipe, version, items, cumulative, rng)
    client.close()


def _realtime_state(
    pipe: Pipeline, version: str, items: list[str], cumulative: list[float], rng: random.Random
) -> None:
    """Neighbours, co-views, trending and active users' recent items, as the pipelines write
    them."""
    for item in items:
        near = list(dict.fromkeys(rng.choices(items, cum_weights=cumulative, k=NEIGHBOURS * 2)))
        scored = [[other, round(1 - rank / 50, 4)] for rank, other in enumerate(near[:NEIGHBOURS])]
        pipe.set(keys.similar_items(version, item), json.dumps(scored))
        coviewed = rng.choices(items, cum_weights=cumulative, k=COVIEWS)
        pipe.zadd(keys.coviews(item), {o: rng.randrange(1, 50) for o in coviewed})
    pipe.zadd(keys.TRENDING, {i: round(100 / (n + 1), 3) for n, i in enumerate(items[:300])})
    now = time.time()
    for user in range(0, N_USERS, ACTIVE_EVERY):
        touched = rng.sample(items, rng.randrange(3, 11))
        recent = {item: now - rng.uniform(0, 600) for item in touched}
        pipe.zadd(keys.user_recent_items(f"u{user}"), recent)
        if user % 1000 == 0:
            pipe.execute()
    pipe.execute()


def _recommendation_paths(n: int = 5000, seed: int = 11) -> list[str]:
    """90% users with a batch list, 10% unknown users (popularity fallback)."""
    rng = random.Random(seed)
    return [
        f"/recommendations/u{rng.randrange(N_USERS)}?limit=10"
        if rng.random() < 0.9
        else f"/recommendations/new{rng.randrange(10**6)}?limit=10"
        for _ in range(n)
    ]


def _active_paths(n: int = 5000, seed: int = 13) -> list[str]:
    """Users with items touched in the last minutes (real-time candidates)."""
    rng = random.Random(seed)
    active = range(0, N_USERS, ACTIVE_EVERY)
    return [f"/recommendations/u{rng.choice(active)}?limit=10" for _ in range(n)]


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
                Target(
                    "GET /recommendations/{user}, active users",
                    recs_url,
                    recs_pid,
                    _active_paths(),
                    auth,
                ),
            ]
            compare(
                targets, rounds=ROUNDS, round_s=ROUND_S, warmup_s=WARMUP_S, connections=CONNECTIONS
            )


if __name__ == "__main__":
    main()
