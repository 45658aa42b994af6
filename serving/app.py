"""The FastAPI application: every router and every client is named here.

``ROUTERS`` lists the router modules in the order their routes are matched. ``lifespan``
builds the worker's clients in one visible order and closes them in reverse; they are
stored on ``app.state.clients`` (``serving.clients.Clients``) and handed to routers by
``serving.deps``."""

from __future__ import annotations

import asyncio
import gc
import logging
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
from serving import fastlane, metrics, security, trace_gate
from serving.clients import Clients
from serving.docs import install_docs
from serving.errors import install_handlers
from serving.events_ingest import LazyProducer
from serving.experiments import ExperimentsService, ExposureLog, flushing
from serving.limits import BodyLimitMiddleware
from serving.readiness import Readiness
from serving.recommendations import snapshot
from serving.recommendations.reader import OnlineStore
from serving.request_log import RequestLog
from serving.routers import (
    admin,
    catalog,
    compare,
    events,
    experiments,
    features,
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
from serving.security.audit import AuditWriter
from serving.security.ratelimit import RateLimiter
from shopflow import __version__, embedded, logs, shutdown, tracing
from shopflow.config import check_startup, get_settings
from shopflow.online_store import connect

ROUTERS: tuple[ModuleType, ...] = (
    admin,
    catalog,
    compare,
    events,
    experiments,
    features,
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
    """Build the clients in order; the exit stack closes them in reverse, within
    ``api_close_s`` (then the worker exits: a hung close never holds a shutdown)."""
    settings = get_settings()
    stack = AsyncExitStack()
    try:
        logging.getLogger(__name__).warning(check_startup(settings, "API"))  # refuses unsafe
        experiments_service = ExperimentsService(settings)
        experiments_service.require_valid()  # an invalid experiments file: no start at all
        redis_url = embedded.ensure_redis(settings)
        # a dropped connection is retried once on a new one; after an outage the pool
        # reconnects by itself (commands fail fast while Redis is down)
        redis = connect.connect_async(  # a cluster client when REDIS_URL names a cluster
            redis_url,
            settings,
            decode_responses=True,
            max_connections=REDIS_MAX_CONNECTIONS,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
            socket_connect_timeout=settings.redis_timeout_s,
            socket_timeout=settings.redis_timeout_s,
        )
        stack.push_async_callback(redis.aclose)

        online_store = OnlineStore(redis)
        await stack.enter_async_context(
            snapshot.refreshing(online_store, settings.popular_snapshot_s)
        )

        rate_limiter = RateLimiter(settings, redis_url) if settings.rate_limits_enabled else None
        if rate_limiter is not None:
            stack.push_async_callback(rate_limiter.aclose)
        audit_writer = AuditWriter()
        audit_writer.start()
        stack.push_async_callback(audit_writer.aclose)  # commits what is queued

        # Before the exposure log: its last flush at shutdown goes through the producer.
        event_producer = LazyProducer(settings)
        stack.push_async_callback(event_producer.close)

        exposures = ExposureLog(settings, lambda: event_producer)
        await stack.enter_async_context(flushing(exposures))

        channels = await asyncio.to_thread(notify_channels.build, settings)
        stack.push_async_callback(asyncio.to_thread, notify_channels.close_all, channels)

        # pub/sub blocks on reads between messages: its own client, without a read timeout
        # (on a cluster, one node: Redis Cluster forwards every PUBLISH to every node)
        pubsub_redis = aioredis.Redis.from_url(
            redis_url, decode_responses=True, socket_connect_timeout=settings.redis_timeout_s
        )
        stack.push_async_callback(pubsub_redis.aclose)
        fanout = Fanout(pubsub_redis)
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
            rate_limiter=rate_limiter,
            audit=audit_writer,
            readiness=Readiness(settings, online_store),
        )
        lanes = [recommendations.lane(), features.lane(), events.lane()]
        lanes += [reviews.rating_lane(), reviews.reviews_lane(), *payments.lanes()]
        fastlane.install(app, lanes)
        # Everything imported so far lives as long as the process: move it out of the cyclic
        # collector's reach, so collections stay short under load (a full one walks ~250k objects).
        gc.freeze()
        yield
    finally:
        with shutdown.deadline(settings.api_close_s, "closing the API's clients"):
            await stack.aclose()
            tracing.shutdown()


def create_app() -> FastAPI:
    settings = get_settings()
    logs.configure(settings)
    app = FastAPI(
        title="Shopflow API",
        version=__version__,
        description="Recommendations, catalog, orders, payments, reviews, wishlists, "
        "notifications and experiments.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # traces come from the OpenTelemetry instrumentation below (sampled ahead by the
        # gate), metrics from Prometheus: FastAPI's own telemetry stays off
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    install_handlers(app)
    security.install(app, settings)
    app.add_middleware(BodyLimitMiddleware)
    metrics.install(app)  # outside the handlers: 404 and 405 are counted as sent
    app.add_middleware(RequestLog, log_requests=settings.request_log)  # outside the above
    install_docs(app)
    for module in ROUTERS:
        app.include_router(module.router)
    if tracing.configure(settings, "api"):  # outermost: the request log runs in its span
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(  # one span per request, none per send/receive
            app, excluded_urls="/livez,/readyz,/metrics", exclude_spans=["receive", "send"]
        )
        trace_gate.install(app, settings.trace_sample_ratio)  # unsampled requests skip it
    return app
