"""Review submission, editing, moderation and removal (the domain rules, no HTTP).

State: PENDING -> APPROVED | REJECTED (with a reason); a high spam score sets FLAGGED; an
edit goes back to moderation; REMOVED hides a review for good. Every step writes its review
event to the outbox in the same transaction, and entering or leaving APPROVED rewrites the
product's rating aggregate.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commerce import outbox
from commerce.auth import Principal
from commerce.db import session_scope, utcnow
from commerce.db.models.commerce import Product
from commerce.db.models.reviews import ProductRating, Review, ReviewMedia, ReviewStatus
from commerce.errors import Conflict, Invalid, NotFound
from commerce.reviews import cache as reviews_cache
from commerce.reviews import listing, spam
from commerce.reviews import media as reviews_media
from commerce.reviews.ratings import refresh_product_rating
from commerce.reviews.verified import has_paid_order
from shopflow.config import get_settings
from shopflow.events import ReviewEvent

MAX_MEDIA = 6


@dataclass(frozen=True)
class ReviewInput:
    rating: int
    title: str = ""
    body: str = ""
    media_ids: tuple[str, ...] = ()


def get_review(session: Session, review_id: str, for_update: bool = False) -> Review:
    query = select(Review).where(Review.id == review_id)
    if for_update:
        query = query.with_for_update()
    review = session.scalars(query).one_or_none()
    if review is None:
        raise NotFound(f"review {review_id!r} not found")
    return review


def visible_to(review: Review, principal: Principal | None) -> bool:
    if review.status == ReviewStatus.APPROVED:
        return True
    return principal is not None and (principal.is_admin or principal.user_id == review.user_id)


def submit(session: Session, user_id: str, product_id: str, data: ReviewInput) -> Review:
    """Create the user's review of a product (one per product; a removed one is reused)."""
    if session.get(Product, product_id) is None:
        raise NotFound(f"product {product_id!r} not found")
    existing = session.scalars(
        select(Review).where(Review.product_id == product_id, Review.user_id == user_id)
    ).one_or_none()
    if existing is not None and existing.status != ReviewStatus.REMOVED:
        raise Conflict(
            "you have already reviewed this product; edit that review instead",
            review_id=existing.id,
        )
    now = utcnow()
    review = existing or Review(
        id=uuid.uuid4().hex, product_id=product_id, user_id=user_id, created_at=now
    )
    if existing is None:
        session.add(review)
    _apply(session, review, data)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("you have already reviewed this product; edit that review instead") from exc
    return review


def edit(session: Session, principal: Principal, review_id: str, changes: dict[str, Any]) -> Review:
    """The author changes some of rating/title/body/media_ids; it goes back to moderation."""
    review = get_review(session, review_id, for_update=True)
    if review.user_id != principal.user_id:
        raise NotFound(f"review {review_id!r} not found")
    if review.status == ReviewStatus.REMOVED:
        raise Conflict("a removed review cannot be edited; submit a new one")
    current = session.scalars(
        select(ReviewMedia.id).where(ReviewMedia.review_id == review.id).order_by(ReviewMedia.id)
    ).all()
    data = ReviewInput(
        rating=changes.get("rating", review.rating),
        title=changes.get("title", review.title) or "",
        body=changes.get("body", review.body) or "",
        media_ids=tuple(changes.get("media_ids", current) or ()),
    )
    was_approved = review.status == ReviewStatus.APPROVED
    _apply(session, review, data)
    if was_approved and review.status != ReviewStatus.APPROVED:  # else _apply did it
        refresh_product_rating(session, review.product_id)
    return review


def _apply(session: Session, review: Review, data: ReviewInput) -> None:
    settings = get_settings()
    title, body = data.title.strip(), data.body.strip()
    now = utcnow()
    with session.no_autoflush:  # a new review is incomplete until the end
        fingerprint = spam.text_fingerprint(title, body)
        seen = spam.neighbours(
            reviews_cache.try_sync_client(settings),
            fingerprint,
            review.user_id,
            review.id,
            now.timestamp(),
            settings,
        )
        verdict = spam.assess(
            title,
            body,
            repeated_elsewhere=seen.repeated_elsewhere,
            recent_by_user=seen.recent_by_user,
            rating=data.rating,
            product_mean=_product_mean(session, review.product_id),
            author_reviews=_author_reviews(session, review),
        )
        review.rating, review.title, review.body = data.rating, title, body
        review.text_hash = fingerprint
        review.spam_score, review.rule_hits = verdict.score, verdict.rule_hits
        review.classifier_score = verdict.classifier_score
        review.spam_model_version = verdict.model_version
        review.verified_purchase = has_paid_order(session, review.user_id, review.product_id)
        review.updated_at = now
        review.reason, review.moderated_at, review.moderated_by = None, None, None
        _attach_media(session, review, data.media_ids)
    review.status = _initial_status(review, verdict.flagged)
    session.flush()
    _emit(session, "review.submitted", review)
    if review.status == ReviewStatus.FLAGGED:
        _emit(session, "review.flagged", review, reason="spam score " + f"{review.spam_score:.2f}")
    elif review.status == ReviewStatus.APPROVED:
        review.moderated_at, review.moderated_by = now, "auto"
        _emit(session, "review.approved", review, reason="auto")
        refresh_product_rating(session, review.product_id)


def _product_mean(session: Session, product_id: str) -> float | None:
    """Mean stars of the product's approved reviews (None: none yet)."""
    row = session.get(ProductRating, product_id)
    return row.rating_sum / row.count if row is not None and row.count else None


def _author_reviews(session: Session, review: Review) -> int:
    """How many other reviews the author has written here."""
    query = select(func.count()).where(Review.user_id == review.user_id, Review.id != review.id)
    return int(session.scalar(query) or 0)


def _initial_status(review: Review, flagged: bool) -> str:
    """FLAGGED at the spam threshold; APPROVED when the auto-approve rule matches."""
    s = get_settings()
    if flagged:
        return ReviewStatus.FLAGGED
    auto = (
        s.review_auto_approve
        and review.spam_score <= s.review_auto_approve_max_spam
        and (review.verified_purchase or not s.review_auto_approve_verified_only)
        and (
            not (review.title or review.body or review.has_media)
            or not s.review_auto_approve_rating_only
        )
    )
    return ReviewStatus.APPROVED if auto else ReviewStatus.PENDING


def _attach_media(session: Session, review: Review, media_ids: tuple[str, ...]) -> None:
    wanted = list(dict.fromkeys(media_ids))
    if len(wanted) > MAX_MEDIA:
        raise Invalid(f"a review can carry at most {MAX_MEDIA} media files")
    current = session.scalars(select(ReviewMedia).where(ReviewMedia.review_id == review.id)).all()
    for media in current:
        if media.id not in wanted:
            media.review_id = None
    if wanted:
        found = session.scalars(select(ReviewMedia).where(ReviewMedia.id.in_(wanted))).all()
        usable = {
            m.id: m
            for m in found
            if m.user_id == review.user_id and m.review_id in (None, review.id)
        }
        missing = [m for m in wanted if m not in usable]
        if missing:
            raise Invalid("unknown media id(s) or media not yours to attach", media_ids=missing)
        for media in usable.values():
            media.review_id = review.id
    review.has_media = bool(wanted)


def approve(session: Session, admin: Principal, review_id: str) -> Review:
    review = get_review(session, review_id, for_update=True)
    if review.status == ReviewStatus.REMOVED:
        raise Conflict("a removed review cannot be approved")
    if review.status == ReviewStatus.APPROVED:
        return review
    review.verified_purchase = has_paid_order(session, review.user_id, review.product_id)
    _moderate(review, admin, ReviewStatus.APPROVED, None)
    _emit(session, "review.approved", review)
    refresh_product_rating(session, review.product_id)
    return review


def reject(session: Session, admin: Principal, review_id: str, reason: str) -> Review:
    review = get_review(session, review_id, for_update=True)
    if review.status == ReviewStatus.REMOVED:
        raise Conflict("a removed review cannot be rejected")
    if review.status == ReviewStatus.REJECTED and review.reason == reason:
        return review
    was_approved = review.status == ReviewStatus.APPROVED
    _moderate(review, admin, ReviewStatus.REJECTED, reason)
    _emit(session, "review.rejected", review, reason=reason)
    if was_approved:
        refresh_product_rating(session, review.product_id)
    return review


def remove(session: Session, principal: Principal, review_id: str) -> Review:
    """The author or an admin takes a review down; it leaves the aggregates, and its media
    rows go now and their stored files (and thumbnails) once the change commits."""
    review = get_review(session, review_id, for_update=True)
    if not principal.can_access(review.user_id):
        raise NotFound(f"review {review_id!r} not found")
    if review.status == ReviewStatus.REMOVED:
        return review
    was_approved = review.status == ReviewStatus.APPROVED
    by = "admin" if principal.user_id != review.user_id else "author"
    _moderate(review, principal, ReviewStatus.REMOVED, f"removed by {by}")
    reviews_media.discard_for(session, review)
    _emit(session, "review.removed", review, reason=review.reason)
    if was_approved:
        refresh_product_rating(session, review.product_id)
    return review


def _moderate(review: Review, actor: Principal, status: str, reason: str | None) -> None:
    if status in (ReviewStatus.REJECTED,) and not (reason and reason.strip()):
        raise Invalid("a rejection needs a reason")
    review.status, review.reason = status, reason
    review.moderated_at, review.moderated_by = utcnow(), actor.user_id


def _emit(session: Session, event_type: str, review: Review, reason: str | None = None) -> None:
    payload = ReviewEvent(
        review_id=review.id,
        item_id=review.product_id,
        rating=review.rating,
        title=review.title,
        body=review.body,
        verified_purchase=review.verified_purchase,
        reason=reason,
        spam_score=review.spam_score,
    )
    outbox.enqueue(session, event_type, payload, aggregate_id=review.id, user_id=review.user_id)


# ---- one transaction each: what the reviews API calls -----------------------------------------
def review_json(review_id: str) -> dict[str, Any]:
    """One review as the API shows it (read in a transaction of its own)."""
    with session_scope() as session:
        return listing.serialize(session, [get_review(session, review_id)])[0]


def review_for(principal: Principal | None, review_id: str) -> dict[str, Any]:
    """One review, if ``principal`` may see it (NotFound otherwise)."""
    with session_scope() as session:
        review = get_review(session, review_id)
        if not visible_to(review, principal):
            raise NotFound(f"review {review_id!r} not found")
        admin = principal is not None and principal.is_admin
        return listing.serialize(session, [review], moderation=admin)[0]


def submit_review(user_id: str, product_id: str, data: ReviewInput) -> dict[str, Any]:
    with session_scope() as session:
        review = submit(session, user_id, product_id, data)
        return listing.serialize(session, [review])[0]


def edit_review(principal: Principal, review_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    with session_scope() as session:
        review = edit(session, principal, review_id, changes)
        return listing.serialize(session, [review])[0]


def remove_review(principal: Principal, review_id: str) -> None:
    with session_scope() as session:
        remove(session, principal, review_id)


def approve_review(admin: Principal, review_id: str) -> dict[str, Any]:
    """Approve, commit, then read the review back (its cache hooks ran on the commit)."""
    with session_scope() as session:
        approve(session, admin, review_id)
    return review_json(review_id)


def reject_review(admin: Principal, review_id: str, reason: str) -> dict[str, Any]:
    """Reject, commit, then read the review back (its cache hooks ran on the commit)."""
    with session_scope() as session:
        reject(session, admin, review_id, reason)
    return review_json(review_id)
