"""Product comparison: ``GET /api/compare?ids=a,b`` and the user's compare list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from commerce.wishlists import compare as svc
from serving.deps import CurrentUser
from serving.schemas_shop import CompareListOut, CompareListWithComparison, Comparison

router = APIRouter(tags=["compare"])

ProductPath = Annotated[str, Path(min_length=1, max_length=128)]


@router.get("/api/compare", summary="Two to four products side by side", response_model=Comparison)
def compare(
    ids: Annotated[list[Annotated[str, Query(max_length=600)]], Query(max_length=4)],
) -> dict[str, Any]:
    return svc.compare_products(ids)


@router.get(
    "/api/compare/list",
    summary="Your compare list (and its comparison)",
    response_model=CompareListWithComparison,
)
def my_list(user: CurrentUser) -> dict[str, Any]:
    return svc.compare_list_with_comparison(user.user_id)


@router.put(
    "/api/compare/list/{product_id}",
    summary="Add a product to your compare list",
    response_model=CompareListOut,
)
def add(product_id: ProductPath, user: CurrentUser) -> dict[str, Any]:
    return {"product_ids": svc.add_to_compare_list(user.user_id, product_id)}


@router.delete(
    "/api/compare/list/{product_id}",
    summary="Remove a product from the list",
    response_model=CompareListOut,
)
def remove(product_id: ProductPath, user: CurrentUser) -> dict[str, Any]:
    return {"product_ids": svc.remove_from_compare_list(user.user_id, product_id)}
