"""Application lifespan: shared clients on ``app.state`` plus hooks other modules register.

A router module that needs its own start-up/shut-down (a Kafka producer, a pub/sub listener)
calls ``register_hook`` at import time with an async context manager factory taking the app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from shopflow import embedded
from shopflow.config import get_settings

Hook = Callable[[FastAPI], AbstractAsyncContextManager[None]]
_hooks: list[Hook] = []


def register_hook(hook: Hook) -> Hook:
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = get_settings()
    app.state.settings = settings
    app.state.redis = aioredis.Redis.from_url(  # a dropped connection is retried on a new one
        embedded.ensure_redis(settings),
        decode_responses=True,
        max_connections=256,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[RedisConnectionError],
    )
    async with AsyncExitStack() as stack:
        for hook in list(_hooks):
            await stack.enter_async_context(hook(app))
        try:
            yield
        finally:
            await app.state.redis.aclose()
