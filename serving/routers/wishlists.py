"""Wishlists API: named lists per user, items, share links (read-only public view)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from commerce.wishlists import service as svc
from serving.deps import CurrentUser

router = APIRouter(tags=["wishlists"])

WishlistId = Annotated[str, Path(min_length=1, max_length=64)]
ProductId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]


class WishlistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: ProductId


@router.post("/api/wishlists", status_code=201, summary="Create a named wishlist")
def create(body: WishlistIn, user: CurrentUser) -> dict[str, Any]:
    return svc.create_wishlist(user.user_id, body.name)


@router.get("/api/wishlists", summary="Your wishlists")
def list_mine(user: CurrentUser) -> dict[str, Any]:
    return {"items": svc.wishlists_of(user.user_id)}


@router.get("/api/wishlists/{wishlist_id}", summary="One of your wishlists")
def get(wishlist_id: WishlistId, user: CurrentUser) -> dict[str, Any]:
    return svc.get_wishlist(user, wishlist_id)


@router.patch("/api/wishlists/{wishlist_id}", summary="Rename a wishlist")
def rename(wishlist_id: WishlistId, body: WishlistIn, user: CurrentUser) -> dict[str, Any]:
    return svc.rename_wishlist(user, wishlist_id, body.name)


@router.delete("/api/wishlists/{wishlist_id}", status_code=204, summary="Delete a wishlist")
def delete(wishlist_id: WishlistId, user: CurrentUser) -> Response:
    svc.delete_wishlist(user, wishlist_id)
    return Response(status_code=204)


@router.post("/api/wishlists/{wishlist_id}/items", status_code=201, summary="Add a product")
def add_item(wishlist_id: WishlistId, body: ItemIn, user: CurrentUser) -> dict[str, Any]:
    return svc.add_wishlist_item(user, wishlist_id, body.product_id)


@router.delete("/api/wishlists/{wishlist_id}/items/{product_id}", summary="Remove a product")
def remove_item(
    wishlist_id: WishlistId,
    product_id: Annotated[str, Path(min_length=1, max_length=128)],
    user: CurrentUser,
) -> dict[str, Any]:
    return svc.remove_wishlist_item(user, wishlist_id, product_id)


@router.post("/api/wishlists/{wishlist_id}/share", summary="Create (or rotate) a share link")
def share(wishlist_id: WishlistId, user: CurrentUser) -> dict[str, Any]:
    return svc.share_wishlist(user, wishlist_id)


@router.delete("/api/wishlists/{wishlist_id}/share", summary="Revoke the share link")
def revoke(wishlist_id: WishlistId, user: CurrentUser) -> dict[str, Any]:
    return svc.revoke_wishlist_share(user, wishlist_id)


@router.get("/api/shared/wishlists/{token}", summary="A shared wishlist (public, read-only)")
def shared(token: Annotated[str, Path(min_length=1, max_length=128)]) -> dict[str, Any]:
    return svc.shared_wishlist(token)
