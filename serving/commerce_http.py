"""HTTP helpers shared by the commerce routers (no ``router`` here): idempotent POSTs and
the payment cache."""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import redis.asyncio as aioredis
from fastapi.responses import JSONResponse

from commerce.idempotency import Once, run_idempotent, run_once
from shopflow.config import get_settings
from shopflow.online_store import keys

T = TypeVar("T")


_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run a commerce command in a worker thread, at most ``commerce_write_threads`` at once
    per process: more threads only contend for the GIL and the database's write lock (on
    SQLite one writer at a time), which stretches every transaction they hold."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(get_settings().commerce_write_threads)
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)


async def idempotent(
    key: str | None,
    scope: str,
    payload: Any,
    handler: Callable[[], tuple[int, Any]],
) -> JSONResponse:
    """Run a POST handler once per Idempotency-Key; replays carry ``Idempotent-Replayed``."""
    status, body, replayed = await _in_thread(run_idempotent, key, scope, payload, handler)
    return _response(status, body, replayed)


async def idempotent_once(
    key: str | None,
    scope: str,
    payload: Any,
    handler: Callable[[Once | None], Any],
    status: int = 200,
) -> JSONResponse:
    """Like ``idempotent`` for a handler that claims the key inside its one writing
    transaction (``commerce.idempotency.run_once``): no extra transactions on success."""
    code, body, replayed = await _in_thread(run_once, key, scope, payload, handler, status)
    return _response(code, body, replayed)


def _response(status: int, body: Any, replayed: bool) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(body, status_code=status, headers=headers)


# ---- the payment cache: cache-aside, filled only under the epoch read before the database;
# every committed change bumps the epoch and drops the entry, so a fill that raced a write
# is refused and no stale body is served after the write returns.
_FILL = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""
_BUMP = """
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
"""


async def cached_payment(
    redis: aioredis.Redis, payment_id: str
) -> tuple[dict[str, Any] | None, str]:
    """(cached body or None, the cache epoch to pass to ``cache_payment`` after a miss)."""
    with contextlib.suppress(Exception):  # the cache is an optimisation, never a failure
        raw, epoch = await redis.mget(
            keys.payment_cache(payment_id), keys.payment_cache_epoch(payment_id)
        )
        return (json.loads(raw) if raw else None), str(epoch or "0")
    return None, ""


async def cache_payment(redis: aioredis.Redis, body: dict[str, Any], epoch: str) -> None:
    """Fill the cache with ``body`` read from the database, unless a change committed since
    ``epoch`` was read."""
    if not epoch:  # the epoch could not be read: do not fill
        return
    with contextlib.suppress(Exception):
        await redis.eval(
            _FILL, 2, keys.payment_cache(body["id"]), keys.payment_cache_epoch(body["id"]),
            epoch, json.dumps(body), keys.PAYMENT_CACHE_TTL_S,
        )  # fmt: skip


async def invalidate_payment(redis: aioredis.Redis, payment_id: str | None) -> None:
    """After a payment change commits: bump its epoch and drop the cached body."""
    if payment_id:
        with contextlib.suppress(Exception):
            await redis.eval(
                _BUMP, 2, keys.payment_cache(payment_id), keys.payment_cache_epoch(payment_id),
                keys.PAYMENT_CACHE_EPOCH_TTL_S,
            )  # fmt: skip
