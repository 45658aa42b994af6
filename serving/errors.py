"""Domain errors and their one mapping to RFC 9457 problem details."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"


class ShopflowError(Exception):
    """Base of domain errors. ``status`` is the HTTP status; ``title`` a short summary."""

    status = 400
    title = "Bad request"
    type_ = "about:blank"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class Invalid(ShopflowError):
    status, title = 422, "Invalid request"


class Unauthorized(ShopflowError):
    status, title = 401, "Unauthorized"


class Forbidden(ShopflowError):
    status, title = 403, "Forbidden"


class NotFound(ShopflowError):
    status, title = 404, "Not found"


class Conflict(ShopflowError):
    status, title = 409, "Conflict"


class RateLimited(ShopflowError):
    status, title = 429, "Too many requests"


class Unavailable(ShopflowError):
    status, title = 503, "Service unavailable"


class PaymentDeclined(ShopflowError):
    status, title = 402, "Payment declined"


def problem(
    status: int,
    title: str,
    detail: str,
    instance: str | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
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

    @app.exception_handler(ShopflowError)
    async def _domain(request: Request, exc: ShopflowError) -> JSONResponse:
        headers = exc.extra.pop("headers", None)
        return problem(
            exc.status,
            exc.title,
            exc.detail,
            str(request.url.path),
            exc.type_,
            headers,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _jsonable_errors(exc.errors())
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        detail = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else first["msg"]
        return problem(422, "Invalid request", detail, str(request.url.path), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed", 401: "Unauthorized"}.get(
            exc.status_code, "HTTP error"
        )
        return problem(
            exc.status_code, title, str(exc.detail), str(request.url.path), headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return problem(500, "Internal error", "an unexpected error occurred", str(request.url.path))
