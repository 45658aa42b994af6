"""HTTP helpers shared by the commerce routers (no ``router`` here): idempotent POSTs and
the payment cache."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from serving.idempotency import run_idempotent
from shopflow import keys


async def idempotent(
    key: str | None,
    scope: str,
    payload: Any,
    handler: Callable[[], tuple[int, Any]],
) -> JSONResponse:
    """Run a POST handler once per Idempotency-Key; replays carry ``Idempotent-Replayed``."""
    status, body, replayed = await run_in_threadpool(run_idempotent, key, scope, payload, handler)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(body, status_code=status, headers=headers)


async def cached_payment(redis: aioredis.Redis, payment_id: str) -> dict[str, Any] | None:
    with contextlib.suppress(Exception):  # the cache is an optimisation, never a failure
        raw = await redis.get(keys.payment_cache(payment_id))
        if raw:
            return json.loads(raw)  # type: ignore[no-any-return]
    return None


async def cache_payment(redis: aioredis.Redis, body: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):
        await redis.set(
            keys.payment_cache(body["id"]), json.dumps(body), ex=keys.PAYMENT_CACHE_TTL_S
        )


async def invalidate_payment(redis: aioredis.Redis, payment_id: str | None) -> None:
    if payment_id:
        with contextlib.suppress(Exception):
            await redis.delete(keys.payment_cache(payment_id))
