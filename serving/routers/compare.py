"""Product comparison: ``GET /api/compare?ids=a,b`` and the user's compare list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from commerce.db import session_scope
from commerce.wishlists import compare as svc
from serving.deps import CurrentUser

router = APIRouter(tags=["compare"])

ProductPath = Annotated[str, Path(min_length=1, max_length=128)]


@router.get("/api/compare", summary="Two to four products side by side")
def compare(
    ids: Annotated[list[Annotated[str, Query(max_length=600)]], Query(max_length=4)],
) -> dict[str, Any]:
    product_ids = svc.parse_ids(ids)
    with session_scope() as session:
        return svc.compare(session, product_ids)


@router.get("/api/compare/list", summary="Your compare list (and its comparison)")
def my_list(user: CurrentUser) -> dict[str, Any]:
    with session_scope() as session:
        ids = svc.compare_list(session, user.user_id)
        comparison = svc.compare(session, ids) if len(ids) >= svc.MIN_PRODUCTS else None
        return {"product_ids": ids, "comparison": comparison}


@router.put("/api/compare/list/{product_id}", summary="Add a product to your compare list")
def add(product_id: ProductPath, user: CurrentUser) -> dict[str, Any]:
    with session_scope() as session:
        return {"product_ids": svc.add_to_list(session, user.user_id, product_id)}


@router.delete("/api/compare/list/{product_id}", summary="Remove a product from the list")
def remove(product_id: ProductPath, user: CurrentUser) -> dict[str, Any]:
    with session_scope() as session:
        return {"product_ids": svc.remove_from_list(session, user.user_id, product_id)}
