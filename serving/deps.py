"""FastAPI dependencies as ``Annotated`` aliases: the one place routers get them from."""

from __future__ import annotations

from typing import Annotated

import redis.asyncio as aioredis
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from commerce.auth import Principal, Role, decode_token
from commerce.errors import Forbidden, Unauthorized
from serving.experiments import ExperimentsService, ExposureLog
from serving.recommendations.reader import OnlineStore
from shopflow.config import Settings

_bearer = HTTPBearer(auto_error=False, description="JWT from `shopflow token`")


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


async def get_redis(request: Request) -> aioredis.Redis:
    return request.app.state.redis


async def optional_principal(
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    # async (a JWT check is microseconds): a sync dependency costs a thread-pool hop per request
    if creds is None:
        return None
    return decode_token(creds.credentials)


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized("missing bearer token")
    return principal


async def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden(f"requires role {Role.admin.value}")
    return principal


async def service_or_admin(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if not (principal.is_admin or principal.is_service):
        raise Forbidden("requires role admin or service")
    return principal


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RedisDep = Annotated[aioredis.Redis, Depends(get_redis)]
OptionalUser = Annotated[Principal | None, Depends(optional_principal)]
CurrentUser = Annotated[Principal, Depends(current_principal)]
AdminUser = Annotated[Principal, Depends(admin_principal)]
ServiceUser = Annotated[Principal, Depends(service_or_admin)]
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="Retries with the same key replay the result."),
]


async def get_online_store(request: Request) -> OnlineStore:
    """The recommendation reader (``serving.recommendations.reader``) made at start-up.
    Async: FastAPI
    runs a sync dependency in its thread pool, which costs a hot path dearly."""
    return request.app.state.online_store


OnlineStoreDep = Annotated[OnlineStore, Depends(get_online_store)]


async def get_experiments(request: Request) -> ExperimentsService:
    return request.app.state.experiments


async def get_exposures(request: Request) -> ExposureLog:
    return request.app.state.exposures


ExperimentsDep = Annotated[ExperimentsService, Depends(get_experiments)]
ExposuresDep = Annotated[ExposureLog, Depends(get_exposures)]
