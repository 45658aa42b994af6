"""Named wishlists per user, their items (with the price at add time) and share tokens.

Adding and removing items writes ``wishlist_add`` / ``wishlist_remove`` events to the outbox
so wishlist behaviour lands in the warehouse with the rest of the event stream.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commerce import outbox
from commerce.auth import Principal
from commerce.db import session_scope, utcnow
from commerce.db.models.commerce import Product
from commerce.db.models.wishlists import Wishlist, WishlistItem
from commerce.errors import Conflict, NotFound

MAX_WISHLISTS = 50
MAX_ITEMS = 500


def _owned(session: Session, principal: Principal, wishlist_id: str) -> Wishlist:
    wishlist = session.get(Wishlist, wishlist_id)
    if wishlist is None or not principal.can_access(wishlist.user_id):
        raise NotFound(f"wishlist {wishlist_id!r} not found")
    return wishlist


def list_for(session: Session, user_id: str) -> list[Wishlist]:
    return list(
        session.scalars(
            select(Wishlist).where(Wishlist.user_id == user_id).order_by(Wishlist.created_at)
        )
    )


def create(session: Session, user_id: str, name: str) -> Wishlist:
    if len(list_for(session, user_id)) >= MAX_WISHLISTS:
        raise Conflict(f"at most {MAX_WISHLISTS} wishlists per user")
    wishlist = Wishlist(id=uuid.uuid4().hex, user_id=user_id, name=name)
    session.add(wishlist)
    _flush_unique(session, f"you already have a wishlist named {name!r}")
    return wishlist


def get(session: Session, principal: Principal, wishlist_id: str) -> Wishlist:
    return _owned(session, principal, wishlist_id)


def rename(session: Session, principal: Principal, wishlist_id: str, name: str) -> Wishlist:
    wishlist = _owned(session, principal, wishlist_id)
    if wishlist.name != name:
        wishlist.name, wishlist.updated_at = name, utcnow()
        _flush_unique(session, f"you already have a wishlist named {name!r}")
    return wishlist


def delete(session: Session, principal: Principal, wishlist_id: str) -> None:
    wishlist = _owned(session, principal, wishlist_id)
    for item in wishlist.items:
        _emit_remove(session, wishlist, item.product_id)
    session.delete(wishlist)


def add_item(session: Session, principal: Principal, wishlist_id: str, product_id: str) -> Wishlist:
    """Add a product at its current price; adding it again changes nothing."""
    wishlist = _owned(session, principal, wishlist_id)
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"product {product_id!r} not found")
    if any(item.product_id == product_id for item in wishlist.items):
        return wishlist
    if len(wishlist.items) >= MAX_ITEMS:
        raise Conflict(f"a wishlist holds at most {MAX_ITEMS} items")
    wishlist.items.append(
        WishlistItem(
            product_id=product_id,
            price_at_add_minor=product.price_minor,
            currency=product.currency,
        )
    )
    wishlist.updated_at = utcnow()
    _flush_unique(session, "the product is already on this wishlist")
    outbox.enqueue(
        session,
        "wishlist_add",
        {
            "item_id": product_id,
            "wishlist_id": wishlist.id,
            "price_minor": product.price_minor,
            "currency": product.currency,
        },
        aggregate_id=wishlist.user_id,
        user_id=wishlist.user_id,
    )
    return wishlist


def remove_item(
    session: Session, principal: Principal, wishlist_id: str, product_id: str
) -> Wishlist:
    wishlist = _owned(session, principal, wishlist_id)
    item = next((i for i in wishlist.items if i.product_id == product_id), None)
    if item is None:
        raise NotFound(f"product {product_id!r} is not on this wishlist")
    wishlist.items.remove(item)
    wishlist.updated_at = utcnow()
    _emit_remove(session, wishlist, product_id)
    return wishlist


def share(session: Session, principal: Principal, wishlist_id: str) -> Wishlist:
    """Give the wishlist a share token (a new one replaces any old one)."""
    wishlist = _owned(session, principal, wishlist_id)
    wishlist.share_token = secrets.token_urlsafe(32)
    wishlist.updated_at = utcnow()
    return wishlist


def revoke_share(session: Session, principal: Principal, wishlist_id: str) -> Wishlist:
    wishlist = _owned(session, principal, wishlist_id)
    wishlist.share_token = None
    wishlist.updated_at = utcnow()
    return wishlist


def by_share_token(session: Session, token: str) -> Wishlist:
    wishlist = session.scalars(select(Wishlist).where(Wishlist.share_token == token)).one_or_none()
    if wishlist is None:
        raise NotFound("no shared wishlist with this link (it may have been revoked)")
    return wishlist


def to_json(session: Session, wishlist: Wishlist, public: bool = False) -> dict[str, Any]:
    ids = [item.product_id for item in wishlist.items]
    products = (
        {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(ids)))}
        if ids
        else {}
    )
    items = []
    for item in wishlist.items:
        product = products.get(item.product_id)
        items.append(
            {
                "product_id": item.product_id,
                "title": product.title if product else None,
                "price_at_add_minor": item.price_at_add_minor,
                "current_price_minor": product.price_minor if product else None,
                "currency": item.currency,
                "in_stock": bool(product and product.stock > 0),
                "added_at": item.added_at.isoformat(),
            }
        )
    body: dict[str, Any] = {"id": wishlist.id, "name": wishlist.name, "items": items}
    if not public:
        body.update(
            user_id=wishlist.user_id,
            shared=wishlist.share_token is not None,
            share_token=wishlist.share_token,
            share_url=f"/api/shared/wishlists/{wishlist.share_token}"
            if wishlist.share_token
            else None,
            created_at=wishlist.created_at.isoformat(),
            updated_at=wishlist.updated_at.isoformat(),
        )
    return body


def _emit_remove(session: Session, wishlist: Wishlist, product_id: str) -> None:
    outbox.enqueue(
        session,
        "wishlist_remove",
        {"item_id": product_id, "wishlist_id": wishlist.id},
        aggregate_id=wishlist.user_id,
        user_id=wishlist.user_id,
    )


def _flush_unique(session: Session, message: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc


# ---- one transaction each: what the wishlists API calls ---------------------------------------
def create_wishlist(user_id: str, name: str) -> dict[str, Any]:
    with session_scope() as session:
        return to_json(session, create(session, user_id, name))


def wishlists_of(user_id: str) -> list[dict[str, Any]]:
    with session_scope() as session:
        return [to_json(session, w) for w in list_for(session, user_id)]


def get_wishlist(principal: Principal, wishlist_id: str) -> dict[str, Any]:
    with session_scope() as session:
        return to_json(session, get(session, principal, wishlist_id))


def rename_wishlist(principal: Principal, wishlist_id: str, name: str) -> dict[str, Any]:
    with session_scope() as session:
        return to_json(session, rename(session, principal, wishlist_id, name))


def delete_wishlist(principal: Principal, wishlist_id: str) -> None:
    with session_scope() as session:
        delete(session, principal, wishlist_id)


def add_wishlist_item(principal: Principal, wishlist_id: str, product_id: str) -> dict[str, Any]:
    with session_scope() as session:
        return to_json(session, add_item(session, principal, wishlist_id, product_id))


def remove_wishlist_item(principal: Principal, wishlist_id: str, product_id: str) -> dict[str, Any]:
    with session_scope() as session:
        return to_json(session, remove_item(session, principal, wishlist_id, product_id))


def share_wishlist(principal: Principal, wishlist_id: str) -> dict[str, Any]:
    with session_scope() as session:
        return to_json(session, share(session, principal, wishlist_id))


def revoke_wishlist_share(principal: Principal, wishlist_id: str) -> dict[str, Any]:
    with session_scope() as session:
        return to_json(session, revoke_share(session, principal, wishlist_id))


def shared_wishlist(token: str) -> dict[str, Any]:
    """The public, read-only view of a shared wishlist."""
    with session_scope() as session:
        return to_json(session, by_share_token(session, token), public=True)
