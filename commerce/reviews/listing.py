"""Review listings with filters, sorts and keyset (cursor) pagination, and their JSON form."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from commerce.db.models.reviews import Review, ReviewMedia, ReviewStatus
from commerce.errors import Invalid

#: sort name -> ((column, descending), ...); the id breaks ties so the order is total.
SORTS: dict[str, tuple[tuple[InstrumentedAttribute[Any], bool], ...]] = {
    "newest": ((Review.created_at, True), (Review.id, True)),
    "helpful": ((Review.helpful_score, True), (Review.created_at, True), (Review.id, True)),
    "rating_desc": ((Review.rating, True), (Review.created_at, True), (Review.id, True)),
    "rating_asc": ((Review.rating, False), (Review.created_at, True), (Review.id, True)),
}
QUEUE_SORT = ((Review.updated_at, False), (Review.id, False))


def encode_cursor(values: list[Any]) -> str:
    raw = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")


def decode_cursor(
    cursor: str, keys: tuple[tuple[InstrumentedAttribute[Any], bool], ...]
) -> list[Any]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(keys):
            raise ValueError("wrong shape")
        values: list[Any] = []
        for (column, _), value in zip(keys, raw, strict=True):
            kind = getattr(column.type, "impl", column.type).python_type
            if kind is datetime:
                values.append(datetime.fromisoformat(value))
                if values[-1].tzinfo is None:
                    raise ValueError("naive time")
            elif kind is float and isinstance(value, int | float) and not isinstance(value, bool):
                values.append(float(value))
            elif isinstance(value, kind) and not isinstance(value, bool):
                values.append(value)
            else:
                raise ValueError(f"bad {column.key}")
        return values
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid("invalid cursor; use next_cursor from a previous page") from exc


def after(
    keys: tuple[tuple[InstrumentedAttribute[Any], bool], ...], values: list[Any]
) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the sort order (a portable row comparison)."""
    clause: ColumnElement[bool] = false()
    for i in reversed(range(len(keys))):
        column, desc = keys[i]
        beyond = column < values[i] if desc else column > values[i]
        equal_prefix = [keys[j][0] == values[j] for j in range(i)]
        clause = or_(and_(*equal_prefix, beyond), clause) if equal_prefix else or_(beyond, clause)
    return clause


def page(
    session: Session,
    query: Any,
    keys: tuple[tuple[InstrumentedAttribute[Any], bool], ...],
    cursor: str | None,
    limit: int,
) -> tuple[list[Review], str | None]:
    if cursor:
        query = query.where(after(keys, decode_cursor(cursor, keys)))
    query = query.order_by(*[(c.desc() if d else c.asc()) for c, d in keys]).limit(limit + 1)
    rows = list(session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([getattr(rows[-1], c.key) for c, _ in keys]) if more else None
    return rows, next_cursor


def list_product_reviews(
    session: Session,
    product_id: str,
    *,
    stars: list[int] | None = None,
    verified_only: bool = False,
    with_media: bool = False,
    sort: str = "newest",
    cursor: str | None = None,
    limit: int = 20,
) -> dict[str, Any]:
    keys = SORTS[sort]
    query = select(Review).where(
        Review.product_id == product_id, Review.status == ReviewStatus.APPROVED
    )
    if stars:
        query = query.where(Review.rating.in_(stars))
    if verified_only:
        query = query.where(Review.verified_purchase.is_(True))
    if with_media:
        query = query.where(Review.has_media.is_(True))
    rows, next_cursor = page(session, query, keys, cursor, limit)
    return {"items": serialize(session, rows), "next_cursor": next_cursor}


def moderation_queue(
    session: Session, statuses: tuple[str, ...], cursor: str | None, limit: int
) -> dict[str, Any]:
    query = select(Review).where(Review.status.in_(statuses))
    rows, next_cursor = page(session, query, QUEUE_SORT, cursor, limit)
    return {"items": serialize(session, rows, moderation=True), "next_cursor": next_cursor}


def media_json(media: ReviewMedia) -> dict[str, Any]:
    return {
        "id": media.id,
        "kind": media.kind,
        "content_type": media.content_type,
        "size_bytes": media.size_bytes,
        "width": media.width,
        "height": media.height,
        "duration_s": media.duration_s,
        "url": f"/api/media/{media.id}",
        "thumbnail_url": f"/api/media/{media.id}/thumbnail" if media.thumbnail_key else None,
    }


def serialize(
    session: Session, reviews: list[Review], moderation: bool = False
) -> list[dict[str, Any]]:
    ids = [r.id for r in reviews if r.has_media]
    media: dict[str, list[dict[str, Any]]] = {}
    if ids:
        for m in session.scalars(
            select(ReviewMedia).where(ReviewMedia.review_id.in_(ids)).order_by(ReviewMedia.id)
        ):
            media.setdefault(m.review_id or "", []).append(media_json(m))
    return [review_json(r, media.get(r.id, []), moderation) for r in reviews]


def review_json(
    review: Review, media: list[dict[str, Any]], moderation: bool = False
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": review.id,
        "product_id": review.product_id,
        "user_id": review.user_id,
        "rating": review.rating,
        "title": review.title,
        "body": review.body,
        "verified_purchase": review.verified_purchase,
        "status": review.status,
        "helpful": {
            "up": review.helpful_up,
            "down": review.helpful_down,
            "score": round(review.helpful_score, 6),
        },
        "media": media,
        "image_links": review.image_urls or [],
        "created_at": review.created_at.isoformat(),
        "updated_at": review.updated_at.isoformat(),
    }
    if moderation or review.status == ReviewStatus.REJECTED:
        body["reason"] = review.reason
    if moderation:
        body.update(
            spam_score=review.spam_score,
            classifier_score=review.classifier_score,
            rule_hits=review.rule_hits,
            spam_model_version=review.spam_model_version,
            moderated_by=review.moderated_by,
        )
    return body
