"""FastAPI dependencies as ``Annotated`` aliases: the one place routers get them from.

Clients come from ``app.state.clients`` (``serving.clients.Clients``, made by the lifespan in
``serving.app``). Every dependency is ``async def``: FastAPI runs a sync one in its thread pool,
which costs a hot path dearly."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from typing import Annotated, Any, NamedTuple, cast

import redis.asyncio as aioredis
from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from commerce import api_keys
from commerce.auth import Principal, Role, verify_token
from commerce.errors import Forbidden, Unauthorized
from commerce.notifications.channels import Channel
from commerce.notifications.live import Fanout
from serving.clients import Clients
from serving.events_ingest import LazyProducer
from serving.experiments import ExperimentsService, ExposureLog
from serving.readiness import Readiness
from serving.recommendations.reader import OnlineStore
from serving.security import identity
from shopflow.config import Settings

_bearer = HTTPBearer(
    auto_error=False,
    description="A user JWT (`shopflow token`) or an API key (`shopflow keys create`): "
    "`sk_...` (secret, server to server) or `pk_...` (publishable, anonymous visitors only)",
)


async def get_settings_dep(request: Request) -> Settings:
    clients: Clients = request.app.state.clients
    return clients.settings


async def get_redis(request: Request) -> aioredis.Redis:
    """The app's client; on a Redis Cluster a ``RedisCluster`` with the same commands for the
    single-key reads and writes the routers make (typed as the standalone one)."""
    clients: Clients = request.app.state.clients
    return cast(aioredis.Redis, clients.redis)


async def authenticate(credential: str, settings: Settings) -> Principal:
    """The principal of a bearer credential, decided by its prefix: an API key (looked up
    through ``api_keys.CACHE``, the database only on a miss) or a JWT. Also the fast lane's."""
    if not api_keys.is_api_key(credential):
        return verify_token(credential, settings)
    key_id = api_keys.parse(credential)[2]
    hit, stored = api_keys.CACHE.get(key_id)
    if not hit:
        stored = await asyncio.to_thread(api_keys.load, key_id)
        api_keys.CACHE.put(key_id, stored, settings.api_key_cache_s)
    return api_keys.principal_of(credential, stored, settings)


async def authenticate_header(authorization: str | None, settings: Settings) -> Principal | None:
    """``optional_principal`` from a raw ``Authorization`` header (the fast lane's path)."""
    scheme, _, credential = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        return None
    return await authenticate(credential.strip(), settings)


async def optional_principal(
    connection: HTTPConnection,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    # async (a JWT check is microseconds): a sync dependency costs a thread-pool hop per request
    if creds is None:
        return None
    clients: Clients = connection.app.state.clients
    principal = await authenticate(creds.credentials, clients.settings)
    identity.remember(connection.scope, principal)
    return principal


async def visitor_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    """Any credential, a publishable key included (events and recommendations; the endpoint
    checks ``Principal.may_act_for`` on the user ids it touches)."""
    if principal is None:
        raise Unauthorized("missing bearer token")
    return principal


async def lane_visitor(authorization: str | None, settings: Settings) -> Principal:
    """``VisitorUser`` from a raw ``Authorization`` header (the fast lanes' path)."""
    return await visitor_principal(await authenticate_header(authorization, settings))


async def lane_current(authorization: str | None, settings: Settings) -> Principal:
    """``CurrentUser`` from a raw ``Authorization`` header (the fast lanes' path)."""
    return await current_principal(await lane_visitor(authorization, settings))


async def current_principal(
    principal: Annotated[Principal, Depends(visitor_principal)],
) -> Principal:
    """A user JWT or a secret key: a publishable key reaches no account's data."""
    if principal.is_publishable:
        raise Forbidden("a publishable key may only send and read anonymous visitors' data")
    return principal


async def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden(f"requires role {Role.admin.value}")
    return principal


async def service_or_admin(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if not (principal.is_admin or principal.is_service):
        raise Forbidden("requires role admin or service (a secret key)")
    return principal


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]
OptionalUser = Annotated[Principal | None, Depends(optional_principal)]
VisitorUser = Annotated[Principal, Depends(visitor_principal)]
CurrentUser = Annotated[Principal, Depends(current_principal)]
AdminUser = Annotated[Principal, Depends(admin_principal)]
ServiceUser = Annotated[Principal, Depends(service_or_admin)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Retries with the same key replay the result."),
]


async def get_online_store(request: Request) -> OnlineStore:
    """The recommendation reader (``serving.recommendations.reader``)."""
    clients: Clients = request.app.state.clients
    return clients.online_store


async def get_experiments(request: Request) -> ExperimentsService:
    clients: Clients = request.app.state.clients
    return clients.experiments


async def get_exposures(request: Request) -> ExposureLog:
    clients: Clients = request.app.state.clients
    return clients.exposures


async def get_event_producer(request: Request) -> LazyProducer:
    clients: Clients = request.app.state.clients
    return clients.event_producer


async def get_notify_channels(request: Request) -> Mapping[str, Channel]:
    clients: Clients = request.app.state.clients
    return clients.notify_channels


async def get_notify_fanout(connection: HTTPConnection) -> Fanout:
    """An ``HTTPConnection``, not a ``Request``: the WebSocket endpoint uses it."""
    clients: Clients = connection.app.state.clients
    return clients.notify_fanout


async def get_readiness(request: Request) -> Readiness:
    clients: Clients = request.app.state.clients
    return clients.readiness


OnlineStoreDep = Annotated[OnlineStore, Depends(get_online_store)]
ReadinessDep = Annotated[Readiness, Depends(get_readiness)]
ExperimentsDep = Annotated[ExperimentsService, Depends(get_experiments)]
ExposuresDep = Annotated[ExposureLog, Depends(get_exposures)]
EventProducerDep = Annotated[LazyProducer, Depends(get_event_producer)]
NotifyChannelsDep = Annotated[Mapping[str, Channel], Depends(get_notify_channels)]
NotifyFanoutDep = Annotated[Fanout, Depends(get_notify_fanout)]


# ---- pagination ------------------------------------------------------------------------------
#: The largest integer every supported database stores (SQLite INTEGER, PostgreSQL BIGINT):
#: a bigger offset would overflow in the driver, so it is refused with a 422 instead.
DB_INT_MAX = 2**63 - 1


class Page(NamedTuple):
    limit: int
    offset: int


def pagination(
    default_limit: int = 20, max_limit: int = 200
) -> Callable[..., Coroutine[Any, Any, Page]]:
    """A dependency reading ``limit`` and ``offset``, both bounded (a 422 problem otherwise)."""

    # Query(...) as defaults, not in Annotated: these annotations are strings (PEP 563) that
    # FastAPI could not resolve against this closure's variables.
    async def page(
        limit: int = Query(default_limit, ge=1, le=max_limit),
        offset: int = Query(0, ge=0, le=DB_INT_MAX),
    ) -> Page:
        return Page(limit, offset)

    return page


#: ``limit`` (1..200, default 20) and ``offset``; routers with other bounds call ``pagination``.
PageDep = Annotated[Page, Depends(pagination())]
Page50Dep = Annotated[Page, Depends(pagination(default_limit=50))]
