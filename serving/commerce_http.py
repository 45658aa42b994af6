"""HTTP helpers shared by the commerce routers (no ``router`` here): idempotent POSTs and
the payment cache."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from commerce.auth import Principal
from commerce.idempotency import InProgress, Once, run_idempotent, run_once
from commerce.payments import versions as payment_versions
from serving import command_threads
from serving.locations import locate
from shopflow.config import get_settings
from shopflow.online_store import keys

T = TypeVar("T")


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run a commerce command in a worker thread (``serving.command_threads``)."""
    return await command_threads.run(fn, *args)


async def idempotent(
    key: str | None,
    scope: str,
    payload: Any,
    handler: Callable[[], tuple[int, Any]],
) -> JSONResponse:
    """Run a POST handler once per Idempotency-Key; replays carry ``Idempotent-Replayed``."""
    status, body, replayed = await _waiting(run_idempotent, key, scope, payload, handler)
    return _response(status, body, replayed)


async def idempotent_once(
    key: str | None,
    scope: str,
    payload: Any,
    handler: Callable[[Once | None], Any],
    status: int = 200,
    location: str | None = None,
) -> JSONResponse:
    """Like ``idempotent`` for a handler that claims the key inside its one writing
    transaction (``commerce.idempotency.run_once``): no extra transactions on success.
    ``location``: the collection a 201 created in (``Location: {location}/{id}``, replays
    too)."""
    code, body, replayed = await _waiting(run_once, key, scope, payload, handler, status)
    response = _response(code, body, replayed)
    if location is not None and code == 201:
        locate(response, location, body["id"])
    return response


async def _waiting(fn: Callable[..., T], *args: Any) -> T:
    """``fn`` in a worker thread; while a concurrent request holds the key (``InProgress``)
    try again, asleep on the event loop (no thread held), for up to ``idempotency_wait_s``,
    then answer its 409 with Retry-After. A retry after the holder's lease lapsed takes the
    key over."""
    deadline = time.monotonic() + get_settings().idempotency_wait_s
    delay = 0.02
    while True:
        try:
            return await _in_thread(fn, *args)
        except InProgress:
            if time.monotonic() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


class _OrjsonResponse(JSONResponse):
    """Rendered by orjson: the same compact JSON, several times faster than ``json``."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def _response(status: int, body: Any, replayed: bool) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return _OrjsonResponse(body, status_code=status, headers=headers)


# ---- the payment cache: entries carry the payment's database ``version`` (bumped in the
# transaction of every change) and are served only while it is still the database's, so no
# Redis outage can serve a payment older than the database, and a change needs no
# invalidation round trip (the next read replaces the entry; erasure deletes it).
async def cached_payment(
    redis: aioredis.Redis, principal: Principal, payment_id: str
) -> tuple[dict[str, Any], bool]:
    """(the payment's body, whether it came from the cache); NotFound as ``get_payment``."""
    version = await run_in_threadpool(payment_versions.current_version, payment_id)
    if version is not None:
        with contextlib.suppress(Exception):  # the cache is an optimisation, never a failure
            raw = await redis.get(keys.payment_cache(payment_id))
            entry = json.loads(raw) if raw else None
            if (
                entry
                and entry["version"] == version
                and principal.can_access(entry["body"]["user_id"])
            ):
                return entry["body"], True
    body, version = await run_in_threadpool(payment_versions.read_versioned, principal, payment_id)
    with contextlib.suppress(Exception):
        entry_json = json.dumps({"version": version, "body": body})
        await redis.set(
            keys.payment_cache(payment_id), entry_json, ex=get_settings().payment_cache_ttl_s
        )
    return body, False
