"""Catalog endpoints: admins upsert products; anyone reads them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from commerce import catalog
from commerce.common import MAX_AMOUNT_MINOR
from serving.deps import AdminUser, PageDep
from serving.locations import locate
from serving.schemas_shop import ProductOut, ProductPage

router = APIRouter(prefix="/api/products", tags=["catalog"])
ProductId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]


@router.put(
    "/{product_id}",
    summary="Create or replace a product (admin)",
    response_model=ProductOut,
    responses={201: {"model": ProductOut, "description": "Created"}},
)
async def put_product(product_id: ProductId, body: catalog.ProductIn, _: AdminUser) -> JSONResponse:
    product, created = await run_in_threadpool(catalog.upsert_product, product_id, body)
    response = JSONResponse(product, status_code=201 if created else 200)
    if created:
        locate(response, router.prefix, product_id)
    return response


@router.get("/{product_id}", summary="One product", response_model=ProductOut)
async def get_product(product_id: ProductId) -> dict[str, Any]:
    return await run_in_threadpool(catalog.get_product, product_id)


@router.get("", summary="Products, filtered and paginated", response_model=ProductPage)
async def list_products(
    page: PageDep,
    category: Annotated[str | None, Query(max_length=200)] = None,
    brand: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in title/description")] = None,
    min_price: Annotated[int | None, Query(ge=0, le=MAX_AMOUNT_MINOR)] = None,
    max_price: Annotated[int | None, Query(ge=0, le=MAX_AMOUNT_MINOR)] = None,
    in_stock: bool | None = None,
) -> dict[str, Any]:
    return await run_in_threadpool(
        lambda: catalog.list_products(
            category=category,
            brand=brand,
            q=q,
            min_price=min_price,
            max_price=max_price,
            in_stock=in_stock,
            limit=page.limit,
            offset=page.offset,
        )
    )
