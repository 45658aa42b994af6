"""Price-drop and back-in-stock alerts for wishlisted products (a pure service over an
event and a DB session; the ``wishlist-alerts`` consumer in pipelines/streaming calls it).

* ``product.price_changed`` that lowers a price to at least ``wishlist_price_drop_pct`` below
  a wishlisted item's price at add time emits one ``wishlist.price_drop`` per affected user;
* ``product.stock_changed`` from 0 to more emits one ``wishlist.back_in_stock`` per user.

Alerts go to the outbox (they feed notifications). Each is recorded under the source
event id, so a redelivered event emits nothing new.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce import outbox
from commerce.db.models.commerce import Product
from commerce.db.models.wishlists import Wishlist, WishlistAlertSent, WishlistItem
from shopflow import events
from shopflow.config import get_settings

PRICE_DROP = "wishlist.price_drop"
BACK_IN_STOCK = "wishlist.back_in_stock"
HANDLED = ("product.price_changed", "product.stock_changed")


def handle_catalog_event(session: Session, event: events.Envelope) -> list[events.Envelope]:
    """Emit the alerts one catalog event calls for. Returns the events written."""
    payload = event.payload
    if isinstance(payload, events.ProductPriceChanged):
        if payload.new_price_minor >= payload.old_price_minor:
            return []
        pct = get_settings().wishlist_price_drop_pct
        candidates = [
            (user, item)
            for user, item in _wishlisted(session, payload.item_id)
            if item.currency == payload.currency
            and payload.new_price_minor * 100 <= item.price_at_add_minor * (100 - pct)
        ]
        product = session.get(Product, payload.item_id) if candidates else None
        return _emit(session, event, PRICE_DROP, candidates, payload.new_price_minor, product)
    if isinstance(payload, events.ProductStockChanged):
        if not (payload.old_stock == 0 and payload.new_stock > 0):
            return []
        product = session.get(Product, payload.item_id)
        candidates = _wishlisted(session, payload.item_id)
        price = product.price_minor if product is not None else None
        return _emit(session, event, BACK_IN_STOCK, candidates, price, product)
    return []


def _wishlisted(session: Session, product_id: str) -> list[tuple[str, WishlistItem]]:
    rows = session.execute(
        select(Wishlist.user_id, WishlistItem)
        .join(WishlistItem, WishlistItem.wishlist_id == Wishlist.id)
        .where(WishlistItem.product_id == product_id)
        .order_by(Wishlist.user_id, WishlistItem.price_at_add_minor.desc(), WishlistItem.id)
    ).all()
    return [(user, item) for user, item in rows]


def _emit(
    session: Session,
    source: events.Envelope,
    kind: str,
    candidates: list[tuple[str, WishlistItem]],
    current_price: int | None,
    product: Product | None,
) -> list[events.Envelope]:
    """One alert per user; the message names the product by its title (its id when the
    catalog does not know it)."""
    per_user: dict[str, WishlistItem] = {}
    for user, item in candidates:
        per_user.setdefault(user, item)  # the item added at the highest price
    if not per_user:
        return []
    already = set(
        session.scalars(
            select(WishlistAlertSent.user_id).where(
                WishlistAlertSent.source_event_id == source.event_id,
                WishlistAlertSent.kind == kind,
                WishlistAlertSent.user_id.in_(per_user),
            )
        )
    )
    emitted = []
    for user, item in per_user.items():
        if user in already:
            continue
        alert = outbox.enqueue(
            session,
            kind,
            events.WishlistAlert(
                item_id=item.product_id,
                title=product.title if product is not None else "",
                wishlist_id=item.wishlist_id,
                price_at_add_minor=item.price_at_add_minor,
                current_price_minor=(
                    current_price if current_price is not None else item.price_at_add_minor
                ),
                currency=item.currency,
            ),
            aggregate_id=user,
            user_id=user,
        )
        session.add(
            WishlistAlertSent(
                source_event_id=source.event_id,
                user_id=user,
                product_id=item.product_id,
                kind=kind,
                event_id=alert.event_id,
            )
        )
        emitted.append(alert)
    session.flush()  # a concurrent duplicate hits the unique constraint and rolls back
    return emitted
