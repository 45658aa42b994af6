"""Product comparison: two to four products side by side, and the user's compare list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from commerce.db import session_scope
from commerce.db.models.commerce import Product
from commerce.db.models.wishlists import CompareItem
from commerce.errors import Conflict, Invalid, NotFound
from commerce.reviews.ratings import insert_ignore, product_rating

MIN_PRODUCTS, MAX_PRODUCTS = 2, 4


def parse_ids(raw: list[str]) -> list[str]:
    """``ids=a,b`` and ``ids=a&ids=b`` both work; duplicates collapse, order is kept."""
    ids = list(dict.fromkeys(p.strip() for value in raw for p in value.split(",") if p.strip()))
    if not MIN_PRODUCTS <= len(ids) <= MAX_PRODUCTS:
        raise Invalid(f"compare takes {MIN_PRODUCTS} to {MAX_PRODUCTS} distinct product ids")
    if any(len(i) > 128 for i in ids):
        raise Invalid("product ids are at most 128 characters")
    return ids


def compare(session: Session, ids: list[str]) -> dict[str, Any]:
    products = {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(ids)))}
    missing = [i for i in ids if i not in products]
    if missing:
        raise NotFound(f"unknown product(s): {', '.join(missing)}", missing=missing)
    columns: list[dict[str, Any]] = []
    for pid in ids:
        p = products[pid]
        columns.append(
            {
                "id": p.id,
                "title": p.title,
                "price_minor": p.price_minor,
                "currency": p.currency,
                "in_stock": p.stock > 0,
                "rating": product_rating(session, pid),
                "attributes": _attributes(p),
            }
        )
    names = sorted({name for c in columns for name in c["attributes"]})
    for c in columns:
        c["attributes"] = {n: c["attributes"].get(n) for n in names}
    differ = [n for n in names if len({repr(c["attributes"][n]) for c in columns}) > 1]
    if len({(c["price_minor"], c["currency"]) for c in columns}) > 1:
        differ.append("price")
    return {"products": columns, "attributes": names, "differences": differ}


def _attributes(product: Product) -> dict[str, Any]:
    base = {"brand": product.brand, "category": product.category}
    raw: object = product.attributes  # a JSON column: rows imported elsewhere may hold a non-dict
    extra = raw if isinstance(raw, dict) else {}
    return {**{str(k): v for k, v in extra.items()}, **base}


def compare_list(session: Session, user_id: str) -> list[str]:
    return list(
        session.scalars(
            select(CompareItem.product_id)
            .where(CompareItem.user_id == user_id)
            .order_by(CompareItem.added_at, CompareItem.product_id)
        )
    )


def add_to_list(session: Session, user_id: str, product_id: str) -> list[str]:
    if session.get(Product, product_id) is None:
        raise NotFound(f"product {product_id!r} not found")
    current = compare_list(session, user_id)
    if product_id in current:
        return current
    if len(current) >= MAX_PRODUCTS:
        raise Conflict(f"a compare list holds at most {MAX_PRODUCTS} products; remove one first")
    insert_ignore(session, CompareItem, user_id=user_id, product_id=product_id)
    count = session.execute(
        select(func.count()).select_from(CompareItem).where(CompareItem.user_id == user_id)
    ).scalar_one()
    if count > MAX_PRODUCTS:  # a concurrent add won the last slot
        raise Conflict(f"a compare list holds at most {MAX_PRODUCTS} products; remove one first")
    return compare_list(session, user_id)


def remove_from_list(session: Session, user_id: str, product_id: str) -> list[str]:
    session.execute(
        delete(CompareItem).where(
            CompareItem.user_id == user_id, CompareItem.product_id == product_id
        )
    )
    return compare_list(session, user_id)


# ---- one transaction each: what the compare API calls -----------------------------------------
def compare_products(raw_ids: list[str]) -> dict[str, Any]:
    """Compare the products of ``ids`` query values (see ``parse_ids``)."""
    product_ids = parse_ids(raw_ids)
    with session_scope() as session:
        return compare(session, product_ids)


def compare_list_with_comparison(user_id: str) -> dict[str, Any]:
    """The user's compare list and, once it holds enough products, their comparison."""
    with session_scope() as session:
        ids = compare_list(session, user_id)
        comparison = compare(session, ids) if len(ids) >= MIN_PRODUCTS else None
        return {"product_ids": ids, "comparison": comparison}


def add_to_compare_list(user_id: str, product_id: str) -> list[str]:
    with session_scope() as session:
        return add_to_list(session, user_id, product_id)


def remove_from_compare_list(user_id: str, product_id: str) -> list[str]:
    with session_scope() as session:
        return remove_from_list(session, user_id, product_id)
