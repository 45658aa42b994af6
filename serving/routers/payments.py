"""Payment endpoints. Every POST takes an Idempotency-Key; GET by id is cached in Redis
(an entry is served only while its version is the payment's version in the database)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from commerce.auth import Principal
from commerce.errors import NotFound
from commerce.payments import authentication, gateways
from commerce.payments import service as payments
from commerce.payments.ledger import Status
from serving import deps, fastlane, three_d_secure
from serving.commerce_http import (
    cached_payment,
    idempotent,
    idempotent_once,
)
from serving.deps import (
    AdminUser,
    CurrentUser,
    IdempotencyKey,
    Page50Dep,
    RedisDep,
    ServiceUser,
    SettingsDep,
)
from serving.schemas_shop import LedgerEntryOut, PaymentOut, PaymentPage, PaymentsHealth
from shopflow.events import PaymentMethod

router = APIRouter(prefix="/api/payments", tags=["payments"])
PaymentId = Annotated[str, Path(min_length=1, max_length=64)]


@router.get(
    "/health",
    summary="Payments: database, cache and gateways",
    response_model=PaymentsHealth,
    responses={503: {"model": PaymentsHealth, "description": "The database is unreachable"}},
)
async def payments_health(redis: RedisDep, settings: SettingsDep) -> JSONResponse:
    checks: dict[str, Any] = {}
    try:
        await run_in_threadpool(payments.check_database)
        checks["database"] = {"ok": True}
    except Exception as exc:  # health reports, never raises
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    try:
        await redis.ping()
        checks["cache"] = {"ok": True}
    except Exception as exc:
        checks["cache"] = {"ok": False, "error": type(exc).__name__}
    checks["gateways"] = {"ok": True, "by_method": {}}
    for method in PaymentMethod:
        try:
            name = gateways.gateway_for(method, settings).name
        except gateways.GatewayNotConfigured as exc:
            name, checks["gateways"]["ok"] = f"unconfigured: {exc.setting}", False
        checks["gateways"]["by_method"][method.value] = name
    ok = checks["database"]["ok"]
    status = "ok" if ok and checks["cache"]["ok"] else ("degraded" if ok else "down")
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if ok else 503)


@router.post(
    "", status_code=201, summary="Create a payment for an order", response_model=PaymentOut
)
async def create_payment(
    body: payments.PaymentIn, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    return await idempotent_once(
        idempotency_key,
        f"payments.create:{user.user_id}",
        body.model_dump(mode="json"),
        lambda once: payments.create_payment(user, body, once),
        status=201,
        location=router.prefix,
    )


async def _create_fast(state: State, values: dict[str, Any]) -> JSONResponse:
    """``POST /api/payments`` on the fast lane (``serving.fastlane``)."""
    return await create_payment(values["body"], values["caller"], values["idempotency_key"])


async def _command(key: str | None, scope: str, payload: Any, fn: Any) -> JSONResponse:
    return await idempotent(key, scope, payload, lambda: (200, fn()))


@router.post(
    "/{payment_id}/confirm",
    summary="Confirm: charge through the gateway",
    response_model=PaymentOut,
)
async def confirm_payment(
    payment_id: PaymentId,
    user: CurrentUser,
    body: payments.ConfirmIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await idempotent_once(
        idempotency_key, f"payments.confirm:{user.user_id}",
        {"payment_id": payment_id, **(body.model_dump() if body else {})},
        lambda once: payments.confirm_payment(user, payment_id, once),
    )  # fmt: skip


async def _confirm_fast(state: State, values: dict[str, Any]) -> JSONResponse:
    """``POST /api/payments/{id}/confirm`` on the fast lane."""
    return await confirm_payment(
        values["payment_id"], values["caller"], values["body"], values["idempotency_key"],
    )  # fmt: skip


async def _authorize_fast(
    state: State, authorization: str | None, values: dict[str, Any]
) -> Principal:
    """The lanes' ``CurrentUser``; the handler gets the caller in the values."""
    values["caller"] = await deps.lane_current(authorization, state.clients.settings)
    return values["caller"]


def lanes() -> list[fastlane.Lane]:
    """The fast lanes of create and confirm (installed by the app's lifespan): a checkout
    sends both for every order."""
    provides: frozenset[Callable[..., Any]] = frozenset({deps.current_principal})
    return [
        fastlane.Lane(route, handler, provides, _authorize_fast)
        for route in router.routes
        if isinstance(route, APIRoute)
        for endpoint, handler in ((create_payment, _create_fast), (confirm_payment, _confirm_fast))
        if route.endpoint is endpoint
    ]


@router.post(
    "/{payment_id}/cancel",
    summary="Cancel a PENDING or PROCESSING payment",
    response_model=PaymentOut,
)
async def cancel_payment(
    payment_id: PaymentId,
    user: CurrentUser,
    body: payments.CancelIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    reason = body.reason if body else None
    return await _command(
        idempotency_key, f"payments.cancel:{user.user_id}",
        {"payment_id": payment_id, "reason": reason},
        lambda: payments.cancel_payment(user, payment_id, reason),
    )  # fmt: skip


@router.post(
    "/{payment_id}/capture",
    summary="Capture all or part of an AUTHORIZED payment (admin or service)",
    response_model=PaymentOut,
)
async def capture_payment(
    payment_id: PaymentId,
    user: ServiceUser,
    body: payments.CaptureIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    data = body or payments.CaptureIn()
    return await _command(
        idempotency_key, f"payments.capture:{user.user_id}",
        {"payment_id": payment_id, **data.model_dump()},
        lambda: payments.capture_payment(user, payment_id, data),
    )  # fmt: skip


@router.get(
    "/{payment_id}/authenticate",
    summary="3-D Secure page of the test gateway (signed link from next_action)",
    response_class=HTMLResponse,
)
async def authenticate_page(
    payment_id: PaymentId, token: Annotated[str, Query(max_length=64)] = ""
) -> HTMLResponse:
    if not authentication.verify(payment_id, token):
        raise NotFound(f"payment {payment_id} not found", payment_id=payment_id)
    return HTMLResponse(three_d_secure.page(payment_id, token))


@router.post(
    "/{payment_id}/authenticate",
    summary="The 3-D Secure page's answer: approve or fail the payment",
    response_class=HTMLResponse,
)
async def authenticate(
    payment_id: PaymentId,
    form: Annotated[payments.AuthenticateIn, Form()],
) -> HTMLResponse:
    done = await run_in_threadpool(
        payments.authenticate_payment, payment_id, form.token, form.result == "approve"
    )
    return HTMLResponse(three_d_secure.done(done["status"]))


@router.post(
    "/{payment_id}/refund",
    summary="Refund all or part of a payment (admin)",
    response_model=PaymentOut,
)
async def refund_payment(
    payment_id: PaymentId,
    user: AdminUser,
    body: payments.RefundIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    data = body or payments.RefundIn()
    return await _command(
        idempotency_key, f"payments.refund:{user.user_id}",
        {"payment_id": payment_id, **data.model_dump()},
        lambda: payments.refund_payment(user, payment_id, data),
    )  # fmt: skip


@router.get("/order/{order_id}", summary="Payments of an order", response_model=PaymentPage)
async def payments_of_order(
    order_id: Annotated[str, Path(max_length=64)],
    user: CurrentUser,
    page: Page50Dep,
) -> dict[str, Any]:
    return await run_in_threadpool(
        lambda: payments.list_payments(
            user, order_id=order_id, limit=page.limit, offset=page.offset
        )
    )


@router.get(
    "/user/{user_id}",
    summary="Payments of a user (yourself, or anyone for admins)",
    response_model=PaymentPage,
)
async def payments_of_user(
    user_id: Annotated[str, Path(max_length=128)],
    user: CurrentUser,
    page: Page50Dep,
) -> dict[str, Any]:
    return await run_in_threadpool(
        lambda: payments.list_payments(user, user_id=user_id, limit=page.limit, offset=page.offset)
    )


@router.get(
    "/status/{status}", summary="Payments in one status (admin)", response_model=PaymentPage
)
async def payments_by_status(status: Status, user: AdminUser, page: Page50Dep) -> dict[str, Any]:
    return await run_in_threadpool(
        lambda: payments.list_payments(user, status=status, limit=page.limit, offset=page.offset)
    )


@router.get(
    "/{payment_id}/ledger",
    summary="The payment's ledger entries",
    response_model=list[LedgerEntryOut],
)
async def payment_ledger(payment_id: PaymentId, user: CurrentUser) -> list[dict[str, Any]]:
    return await run_in_threadpool(payments.ledger, user, payment_id)


@router.get("/{payment_id}", summary="One payment (cached)", response_model=PaymentOut)
async def get_payment(payment_id: PaymentId, user: CurrentUser, redis: RedisDep) -> JSONResponse:
    body, hit = await cached_payment(redis, user, payment_id)
    return JSONResponse(body, headers={"X-Cache": "hit" if hit else "miss"})
