"""``GET /api/products/{id}/rating`` and ``GET /api/products/{id}/reviews`` throughput against a
bare FastAPI endpoint returning constant JSON. All three run under uvicorn with the same
settings (1 worker, no access log) and the same load generator (benchmarks.loadgen: wrk,
else Python), in interleaved rounds so they see the same machine load.

The API runs over a SQLite OLTP database seeded with 2,000 products and ~40,000 approved
reviews (aggregates built as the review service builds them). Before the warm-up every
distinct path is requested once, as a live shop's pages would have been: the API serves
ratings and first listing pages from its Redis cache (a miss reads the database and fills
it), and the measured rounds show that steady state. Server CPU per request is printed too;
it is steadier than req/s on a shared machine.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.loadgen import BASELINE_APP, UVICORN_FLAGS, Target, api_env, compare
from benchmarks.loadgen import uvicorn_server as serve
from shopflow import embedded
from shopflow.config import Settings

N_PRODUCTS, MEAN_REVIEWS = 2_000, 20
ROUNDS, ROUND_S, WARMUP_S, CONNECTIONS = 3, 2, 1, 50


def seed(url: str, seed_value: int = 5) -> None:
    """Products, approved reviews with votes, and their aggregates, written in bulk."""
    from sqlalchemy import insert, update

    from commerce.db import get_engine
    from commerce.db.models.commerce import Product
    from commerce.db.models.reviews import ProductRating, RatingTotals, Review
    from commerce.reviews.ratings import CATALOG, wilson_lower_bound

    rng = random.Random(seed_value)
    now = datetime.now(UTC)
    products, reviews, ratings = [], [], []
    for p in range(N_PRODUCTS):
        pid = f"p{p}"
        products.append(
            {"id": pid, "title": f"Product {p}", "description": "", "category": "c", "brand": "b",
             "price_minor": rng.randrange(100, 100_000), "currency": "EUR", "stock": 5,
             "attributes": {}, "created_at": now, "updated_at": now}
        )  # fmt: skip
        stars = [0] * 6
        for n in range(rng.randrange(0, 2 * MEAN_REVIEWS)):
            rating = rng.choice((1, 2, 3, 4, 4, 5, 5, 5))
            stars[rating] += 1
            up, down = rng.randrange(0, 30), rng.randrange(0, 10)
            at = now - timedelta(minutes=rng.randrange(0, 500_000))
            reviews.append(
                {"id": uuid.uuid4().hex, "product_id": pid, "user_id": f"u{n}", "rating": rating,
                 "title": "Good value", "body": "Does what it says. " * rng.randrange(1, 8),
                 "status": "APPROVED", "verified_purchase": rng.random() < 0.7,
                 "spam_score": 0.01, "rule_hits": [], "has_media": False, "helpful_up": up,
                 "helpful_down": down, "helpful_score": wilson_lower_bound(up, down),
                 "created_at": at, "updated_at": at}
            )  # fmt: skip
        ratings.append(
            {"product_id": pid, "count": sum(stars), "updated_at": now,
             "rating_sum": sum(s * n for s, n in enumerate(stars)),
             **{f"star{s}": stars[s] for s in range(1, 6)}}
        )  # fmt: skip
    with get_engine(url).begin() as con:
        con.execute(insert(Product), products)
        con.execute(insert(Review), reviews)
        con.execute(insert(ProductRating), ratings)
        con.execute(
            update(RatingTotals)
            .where(RatingTotals.id == CATALOG)
            .values(count=sum(r["count"] for r in ratings),
                    rating_sum=sum(r["rating_sum"] for r in ratings))
        )  # fmt: skip


def prime(base_url: str, paths: list[str], concurrency: int = 16) -> None:
    """Request each distinct path once (fills the API's read cache)."""
    import httpx

    async def run() -> None:
        todo = iter(sorted(set(paths)))
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:

            async def worker() -> None:
                for path in todo:
                    (await client.get(path)).raise_for_status()

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(run())


def _paths(n: int = 4000, seed_value: int = 9) -> tuple[list[str], list[str]]:
    rng = random.Random(seed_value)
    sorts = ("newest", "helpful", "rating_desc")
    rating = [f"/api/products/p{rng.randrange(N_PRODUCTS)}/rating" for _ in range(n)]
    listing = [
        f"/api/products/p{rng.randrange(N_PRODUCTS)}/reviews?limit=10&sort={rng.choice(sorts)}"
        for _ in range(n)
    ]
    return rating, listing


def main() -> None:
    from commerce.db import migrate, reset_engines

    rating_paths, listing_paths = _paths()
    with tempfile.TemporaryDirectory(prefix="bench-reviews-") as tmp:
        os.environ["SHOPFLOW_HOME"] = tmp
        os.environ.pop("DATABASE_URL", None)  # before Settings reads it: SQLite in the home
        settings = Settings(home=Path(tmp))
        settings.ensure_dirs()
        from shopflow.config import get_settings

        get_settings.cache_clear()
        try:
            migrate.upgrade(settings.sqlalchemy_url)
            seed(settings.sqlalchemy_url)
            reset_engines()
            redis_url = embedded.start_redis(settings).url
            env = api_env(SHOPFLOW_HOME=tmp, REDIS_URL=redis_url)
            print(
                f"{CONNECTIONS} connections, {ROUNDS} interleaved rounds of {ROUND_S} s each, "
                f"uvicorn {' '.join(UVICORN_FLAGS)}, SQLite, {N_PRODUCTS} products"
            )
            with (
                serve(BASELINE_APP, env, "/constant") as (base_url, base_pid),
                serve("serving.app:create_app", env, rating_paths[0]) as (api_url, api_pid),
            ):
                prime(api_url, rating_paths + listing_paths)
                targets = [
                    Target("bare FastAPI constant JSON", base_url, base_pid, ["/constant"]),
                    Target("GET /api/products/{id}/rating", api_url, api_pid, rating_paths),
                    Target("GET .../reviews", api_url, api_pid, listing_paths),
                ]
                compare(
                    targets, rounds=ROUNDS, round_s=ROUND_S, warmup_s=WARMUP_S,
                    connections=CONNECTIONS,
                )  # fmt: skip
        finally:
            embedded.stop_all(settings)
            get_settings.cache_clear()


if __name__ == "__main__":
    main()
