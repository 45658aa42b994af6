"""Wishlists API: named lists per user, items, share links (read-only public view)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from commerce.wishlists import service as svc
from serving.deps import CurrentUser
from serving.locations import locate
from serving.schemas_social import SharedWishlistOut, WishlistOut, WishlistsOut

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


@router.post(
    "/api/wishlists", status_code=201, summary="Create a named wishlist", response_model=WishlistOut
)
def create(body: WishlistIn, user: CurrentUser, response: Response) -> dict[str, Any]:
    wishlist = svc.create_wishlist(user.user_id, body.name)
    locate(response, "/api/wishlists", wishlist["id"])
    return wishlist


@router.get("/api/wishlists", summary="Your wishlists", response_model=WishlistsOut)
def list_mine(user: CurrentUser) -> dict[str, Any]:
    return {"items": svc.wishlists_of(user.user_id)}


@router.get(
    "/api/wishlists/{wishlist_id}", summary="One of your wishlists", response_model=WishlistOut
)
def get(wishlist_id: WishlistId, user: CurrentUser) -> dict[str, Any]:
    return svc.get_wishlist(user, wishlist_id)


@router.patch(
    "/api/wishlists/{wishlist_id}", summary="Rename a wishlist", response_model=WishlistOut
)
def rename(wishlist_id: WishlistId, body: WishlistIn, user: CurrentUser) -> dict[str, Any]:
    return svc.rename_wishlist(user, wishlist_id, body.name)


@router.delete("/api/wishlists/{wishlist_id}", status_code=204, summary="Delete a wishlist")
def delete(wishlist_id: WishlistId, user: CurrentUser) -> Response:
    svc.delete_wishlist(user, wishlist_id)
    return Response(status_code=204)


@router.post(
    "/api/wishlists/{wishlist_id}/items",
    status_code=201,
    summary="Add a product",
    response_model=WishlistOut,
)
def add_item(
    wishlist_id: WishlistId, body: ItemIn, user: CurrentUser, response: Response
) -> dict[str, Any]:
    locate(response, "/api/wishlists", wishlist_id)  # the list that now holds the product
    return svc.add_wishlist_item(user, wishlist_id, body.product_id)


@router.delete(
    "/api/wishlists/{wishlist_id}/items/{product_id}",
    summary="Remove a product",
    response_model=WishlistOut,
)
def remove_item(
    wishlist_id: WishlistId,
    product_id: Annotated[str, Path(min_length=1, max_length=128)],
    user: CurrentUser,
) -> dict[str, Any]:
    return svc.remove_wishlist_item(user, wishlist_id, product_id)


@router.post(
    "/api/wishlists/{wishlist_id}/share",
    summary="Create (or rotate) a share link",
    response_model=WishlistOut,
)
def share(wishlist_id: WishlistId, user: CurrentUser) -> dict[str, Any]:
    return svc.share_wishlist(user, wishlist_id)


@router.delete(
    "/api/wishlists/{wishlist_id}/share",
    summary="Revoke the share link",
    response_model=WishlistOut,
)
def revoke(wishlist_id: WishlistId, user: CurrentUser) -> dict[str, Any]:
    return svc.revoke_wishlist_share(user, wishlist_id)


@router.get(
    "/api/shared/wishlists/{token}",
    summary="A shared wishlist (public, read-only)",
    response_model=SharedWishlistOut,
)
def shared(token: Annotated[str, Path(min_length=1, max_length=128)]) -> dict[str, Any]:
    return svc.shared_wishlist(token)
