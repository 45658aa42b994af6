"""The one mapping of domain errors (``commerce.errors``) to RFC 9457 problem details."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from commerce import errors

PROBLEM_JSON = "application/problem+json"
STORE_RETRY_AFTER_S = 5

#: The one mapping of domain errors to HTTP statuses; a subclass takes its nearest base's.
STATUS: dict[type[errors.DomainError], int] = {
    errors.DomainError: 400,
    errors.Invalid: 422,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.TooLarge: 413,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
    errors.PaymentDeclined: 402,
}


def status_of(exc: errors.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _headers(exc: errors.DomainError) -> dict[str, str] | None:
    if exc.retry_after is not None:
        return {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, errors.Unauthorized):
        return {"WWW-Authenticate": "Bearer"}
    return None


def problem(
    status: int,
    title: str,
    detail: str,
    instance: str | None = None,
    type_: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _jsonable_errors(errors: Any) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        item = {k: v for k, v in err.items() if k in ("loc", "msg", "type")}
        item["loc"] = [str(p) for p in item.get("loc", ())]
        out.append(item)
    return out


def install_handlers(app: FastAPI) -> None:
    """Map every error the API can raise to a problem-details body."""

    @app.exception_handler(errors.DomainError)
    async def _domain(request: Request, exc: errors.DomainError) -> JSONResponse:
        extra: dict[str, Any] = dict(exc.extra)
        if exc.retry_after is not None:
            extra["retry_after_s"] = exc.retry_after
        return problem(
            status_of(exc),
            exc.title,
            exc.detail,
            str(request.url.path),
            headers=_headers(exc),
            **extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _jsonable_errors(exc.errors())
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        detail = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else first["msg"]
        return problem(422, "Invalid request", detail, str(request.url.path), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {
            404: "Not found",
            405: "Method not allowed",
            401: "Unauthorized",
            413: "Content too large",
        }.get(exc.status_code, "HTTP error")
        return problem(
            exc.status_code, title, str(exc.detail), str(request.url.path), headers=exc.headers
        )

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def _online_store_down(request: Request, exc: Exception) -> JSONResponse:
        """Redis (online store, caches) cannot be reached: a dependency outage, not a bug."""
        return problem(
            503,
            errors.Unavailable.title,
            "the online store is unavailable; retry later",
            str(request.url.path),
            headers={"Retry-After": str(STORE_RETRY_AFTER_S)},
            retry_after_s=STORE_RETRY_AFTER_S,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return problem(500, "Internal error", "an unexpected error occurred", str(request.url.path))
