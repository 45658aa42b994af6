"""Imported reviews into the OLTP store (the rows ``shopflow.review_import`` landed as events).

A genuine or unlabelled review is APPROVED (it was public in the shop it comes from), a
labelled spam review REJECTED with reason "spam"; ``moderated_by`` is ``import``. Helpful
votes are kept as ``helpful_imported`` (counted in ``helpful_up``, so the Wilson ordering
uses them) and image links as ``image_urls``. Rows are upserted by review id, so a re-import
changes nothing; a (product, user) pair that already has another review in the shop is skipped
and counted. No outbox events: the landing zone already has the review events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from commerce.db import session_scope, upsert, utcnow
from commerce.db.models.commerce import Product
from commerce.db.models.reviews import Review, ReviewStatus
from commerce.reviews.ratings import refresh_product_rating, wilson_lower_bound

BATCH = 500
IMPORTER = "import"


@dataclass
class StoreResult:
    written: int = 0
    skipped_existing: int = 0
    products: set[str] = field(default_factory=set)


def catalog_ids() -> set[str]:
    with session_scope() as session:
        return set(session.scalars(select(Product.id)))


def store(rows: list[dict[str, Any]]) -> StoreResult:
    """Upsert the imported reviews and refresh the touched products' rating aggregates."""
    result = StoreResult()
    for start in range(0, len(rows), BATCH):
        with session_scope() as session:
            _store_batch(session, rows[start : start + BATCH], result)
    for product_id in sorted(result.products):
        with session_scope() as session:
            refresh_product_rating(session, product_id)
    return result


def _store_batch(session: Session, rows: list[dict[str, Any]], result: StoreResult) -> None:
    pairs = [(r["item_id"], r["user_id"]) for r in rows]
    taken = {
        (p, u): rid
        for p, u, rid in session.execute(
            select(Review.product_id, Review.user_id, Review.id).where(
                tuple_(Review.product_id, Review.user_id).in_(pairs)
            )
        )
    }
    now = utcnow()
    values = []
    for row in rows:
        if taken.get((row["item_id"], row["user_id"]), row["review_id"]) != row["review_id"]:
            result.skipped_existing += 1
            continue
        values.append(_values(row, now))
        result.products.add(row["item_id"])
    if not values:
        return
    stmt = upsert(session, Review).values(values)
    kept = ("id", "created_at", "moderated_at", "helpful_up", "helpful_down", "helpful_score")
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"], set_={c: stmt.excluded[c] for c in values[0] if c not in kept}
    )
    session.execute(stmt)
    result.written += len(values)


def _values(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    spam = bool(row["is_spam"])
    votes = int(row["helpful_votes"])
    urls = list(row["image_urls"] or [])
    return {
        "id": row["review_id"],
        "product_id": row["item_id"],
        "user_id": row["user_id"],
        "rating": int(row["rating"]),
        "title": row["title"],
        "body": row["body"],
        "status": ReviewStatus.REJECTED if spam else ReviewStatus.APPROVED,
        "reason": "spam" if spam else None,
        "verified_purchase": bool(row["verified_purchase"]),
        "spam_score": 1.0 if spam else 0.0,
        "classifier_score": None,
        "rule_hits": [],
        "has_media": False,
        "image_urls": urls or None,
        "helpful_imported": votes,
        "helpful_up": votes,
        "helpful_down": 0,
        "helpful_score": wilson_lower_bound(votes, 0),
        "created_at": row["occurred_at"],
        "updated_at": row["occurred_at"],
        "moderated_at": now,
        "moderated_by": IMPORTER,
    }
