"""Helpful votes: up or down, one per user per review, never on your own review.

A vote is an upsert on (review, user), so repeating it changes nothing; the review's
counts and Wilson score are recounted from the votes table under the review's row lock.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from commerce.db import session_scope, upsert
from commerce.db.models.reviews import Review, ReviewStatus, ReviewVote
from commerce.errors import Forbidden, NotFound
from commerce.reviews import listing
from commerce.reviews.ratings import wilson_lower_bound

VALUES = {"up": 1, "down": -1}


def _votable(session: Session, review_id: str, user_id: str) -> Review:
    review = session.scalars(
        select(Review).where(Review.id == review_id).with_for_update()
    ).one_or_none()
    if review is None or review.status != ReviewStatus.APPROVED:
        raise NotFound(f"review {review_id!r} not found")
    if review.user_id == user_id:
        raise Forbidden("you cannot vote on your own review")
    return review


def vote(session: Session, review_id: str, user_id: str, direction: str) -> Review:
    review = _votable(session, review_id, user_id)
    value = VALUES[direction]
    stmt = upsert(session, ReviewVote).values(review_id=review_id, user_id=user_id, value=value)
    session.execute(
        stmt.on_conflict_do_update(index_elements=["review_id", "user_id"], set_={"value": value})
    )
    _recount(session, review)
    return review


def unvote(session: Session, review_id: str, user_id: str) -> Review:
    review = _votable(session, review_id, user_id)
    session.execute(
        delete(ReviewVote).where(ReviewVote.review_id == review_id, ReviewVote.user_id == user_id)
    )
    _recount(session, review)
    return review


def _recount(session: Session, review: Review) -> None:
    up, down = session.execute(
        select(
            func.coalesce(func.sum(case((ReviewVote.value > 0, 1), else_=0)), 0),
            func.coalesce(func.sum(case((ReviewVote.value < 0, 1), else_=0)), 0),
        ).where(ReviewVote.review_id == review.id)
    ).one()
    up, down = int(cast(int, up)), int(cast(int, down))  # COALESCE(SUM, 0): an int, never NULL
    up += review.helpful_imported or 0
    review.helpful_up, review.helpful_down = up, down
    review.helpful_score = wilson_lower_bound(up, down)


# ---- one transaction each: what the reviews API calls -----------------------------------------
def vote_helpful(review_id: str, user_id: str, direction: str) -> dict[str, Any]:
    """Record the user's vote; returns the review's new ``helpful`` counts."""
    with session_scope() as session:
        review = vote(session, review_id, user_id, direction)
        helpful: dict[str, Any] = listing.serialize(session, [review])[0]["helpful"]
        return helpful


def withdraw_vote(review_id: str, user_id: str) -> dict[str, Any]:
    """Withdraw the user's vote; returns the review's new ``helpful`` counts."""
    with session_scope() as session:
        review = unvote(session, review_id, user_id)
        helpful: dict[str, Any] = listing.serialize(session, [review])[0]["helpful"]
        return helpful
