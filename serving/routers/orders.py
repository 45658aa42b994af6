"""Order endpoints: place (priced from the catalog, stock reserved), list, fetch, cancel."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from commerce import orders
from serving.commerce_http import idempotent, idempotent_once
from serving.deps import CurrentUser, IdempotencyKey, PageDep
from serving.schemas_shop import OrderOut, OrderPage

router = APIRouter(prefix="/api/orders", tags=["orders"])
OrderId = Annotated[str, Path(min_length=1, max_length=64)]


@router.post("", status_code=201, summary="Place an order", response_model=OrderOut)
async def place_order(
    body: orders.OrderIn, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    return await idempotent_once(
        idempotency_key,
        f"orders.place:{user.user_id}",
        body.model_dump(),
        lambda once: orders.place_order(user.user_id, body, once),
        status=201,
        location=router.prefix,
    )


@router.get("", summary="My orders (admins: anyone's with user_id)", response_model=OrderPage)
async def list_orders(
    page: PageDep,
    user: CurrentUser,
    user_id: Annotated[str | None, Query(max_length=128)] = None,
    status: Literal["PLACED", "PAID", "CANCELLED", "REFUNDED"] | None = None,
) -> dict[str, Any]:
    return await run_in_threadpool(
        orders.list_orders, user, user_id, status, page.limit, page.offset
    )


@router.get("/{order_id}", summary="One order", response_model=OrderOut)
async def get_order(order_id: OrderId, user: CurrentUser) -> dict[str, Any]:
    return await run_in_threadpool(orders.get_order, user, order_id)


@router.post(
    "/{order_id}/cancel",
    summary="Cancel a PLACED order and release its stock",
    response_model=OrderOut,
)
async def cancel_order(
    order_id: OrderId, user: CurrentUser, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    return await idempotent(
        idempotency_key,
        f"orders.cancel:{user.user_id}",
        {"order_id": order_id},
        lambda: (200, orders.cancel_order(user, order_id)),
    )
