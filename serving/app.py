"""The FastAPI application: every router and every client is named here.

``ROUTERS`` lists the router modules in the order their routes are matched. ``lifespan``
builds the worker's clients in one visible order and closes them in reverse; they are
stored on ``app.state.clients`` (``serving.clients.Clients``) and handed to routers by
``serving.deps``."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from types import ModuleType

import redis.asyncio as aioredis
from fastapi import FastAPI
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from commerce.notifications import channels as notify_channels
from commerce.notifications.live import Fanout
from serving import metrics
from serving.clients import Clients
from serving.docs import install_docs
from serving.errors import install_handlers
from serving.events_ingest import LazyProducer
from serving.experiments import ExperimentsService, ExposureLog, flushing
from serving.recommendations import fastlane
from serving.recommendations.reader import OnlineStore
from serving.routers import (
    catalog,
    compare,
    events,
    experiments,
    health,
    notifications,
    orders,
    payments,
    realtime,
    recommendations,
    reviews,
    users,
    webhooks,
    wishlists,
)
from shopflow import __version__, embedded
from shopflow.config import get_settings

ROUTERS: tuple[ModuleType, ...] = (
    catalog,
    compare,
    events,
    experiments,
    health,
    notifications,
    orders,
    payments,
    realtime,
    recommendations,
    reviews,
    users,
    webhooks,
    wishlists,
)
"""Every module of ``serving/routers/``; each defines ``router``."""

REDIS_MAX_CONNECTIONS = 256


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the clients in order; the exit stack closes them in reverse."""
    async with AsyncExitStack() as stack:
        settings = get_settings()
        redis = aioredis.Redis.from_url(  # a dropped connection is retried on a new one
            embedded.ensure_redis(settings),
            decode_responses=True,
            max_connections=REDIS_MAX_CONNECTIONS,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
        )
        stack.push_async_callback(redis.aclose)

        online_store = OnlineStore(redis)

        # Before the exposure log: its last flush at shutdown goes through the producer.
        event_producer = LazyProducer(settings)
        stack.push_async_callback(event_producer.close)

        experiments_service = ExperimentsService(settings)
        exposures = ExposureLog(settings, lambda: event_producer)
        await stack.enter_async_context(flushing(exposures))

        channels = await asyncio.to_thread(notify_channels.build, settings)
        stack.push_async_callback(asyncio.to_thread, notify_channels.close_all, channels)

        fanout = Fanout(redis)
        await fanout.start()
        stack.push_async_callback(fanout.stop)

        app.state.clients = Clients(
            settings=settings,
            redis=redis,
            online_store=online_store,
            event_producer=event_producer,
            experiments=experiments_service,
            exposures=exposures,
            notify_channels=channels,
            notify_fanout=fanout,
        )
        metrics.instrument(app.router)
        fastlane.install(app, [recommendations.lane()])
        # Everything imported so far lives as long as the process: move it out of the cyclic
        # collector's reach, so collections stay short under load (a full one walks ~250k objects).
        gc.freeze()
        yield


def create_app() -> FastAPI:
    app = FastAPI(
        title="Shopflow API",
        version=__version__,
        description="Recommendations, catalog, orders, payments, reviews, wishlists, "
        "notifications and experiments.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_handlers(app)
    install_docs(app)
    for module in ROUTERS:
        app.include_router(module.router)
    return app
