"""The payment cache never serves a body older than the last committed change."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from serving.commerce_http import cache_payment, cached_payment, invalidate_payment


def test_a_fill_that_raced_a_write_is_refused(redis_server: str) -> None:
    async def scenario() -> None:
        redis = aioredis.Redis.from_url(redis_server, decode_responses=True)
        try:
            await redis.flushdb()
            old = {"id": "pay_1", "status": "PENDING"}
            body, epoch = await cached_payment(redis, "pay_1")  # a GET misses...
            assert body is None
            await invalidate_payment(redis, "pay_1")  # ...a confirm commits meanwhile...
            await cache_payment(redis, old, epoch)  # ...and the GET's fill comes late
            assert (await cached_payment(redis, "pay_1"))[0] is None
            new = {"id": "pay_1", "status": "COMPLETED"}
            body, epoch = await cached_payment(redis, "pay_1")
            await cache_payment(redis, new, epoch)
            assert (await cached_payment(redis, "pay_1"))[0] == new
            await invalidate_payment(redis, "pay_1")
            assert (await cached_payment(redis, "pay_1"))[0] is None
        finally:
            await redis.aclose()

    asyncio.run(scenario())
