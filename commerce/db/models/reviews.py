"""Reviews tables: reviews, helpful votes, uploaded media and the rating aggregates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from commerce.db import Base, UTCDateTime, utcnow


class ReviewStatus:
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    FLAGGED = "FLAGGED"
    REMOVED = "REMOVED"

    ALL = (PENDING, APPROVED, REJECTED, FLAGGED, REMOVED)
    QUEUE = (PENDING, FLAGGED)


class Review(Base):
    """One review per (product, user). Only APPROVED reviews are public and counted.
    ``helpful_score`` is the Wilson lower bound of the helpful votes (the "most helpful" sort);
    ``rule_hits`` lists the spam rules the text tripped."""

    __tablename__ = "reviews"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    user_id: Mapped[str] = mapped_column(String(128))
    rating: Mapped[int] = mapped_column(SmallInteger)
    title: Mapped[str] = mapped_column(String(200), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    verified_purchase: Mapped[bool] = mapped_column(Boolean, default=False)
    spam_score: Mapped[float] = mapped_column(Float, default=0.0)
    classifier_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    rule_hits: Mapped[list[str]] = mapped_column(JSON, default=list)
    text_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    has_media: Mapped[bool] = mapped_column(Boolean, default=False)
    helpful_up: Mapped[int] = mapped_column(Integer, default=0)
    helpful_down: Mapped[int] = mapped_column(Integer, default=0)
    helpful_score: Mapped[float] = mapped_column(Float, default=0.0)
    helpful_imported: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Helpful votes brought by ``shopflow import reviews`` (counted in ``helpful_up``)."""
    image_urls: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    """Image links of an imported review (kept as links, not fetched)."""
    spam_model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """The spam classifier version that scored the review (None: rules only)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    moderated_by: Mapped[str | None] = mapped_column(String(128), nullable=True)

    __table_args__ = (
        UniqueConstraint("product_id", "user_id", name="uq_reviews_product_user"),
        Index("ix_reviews_product_status_created", "product_id", "status", "created_at"),
        Index("ix_reviews_product_status_helpful", "product_id", "status", "helpful_score"),
        Index("ix_reviews_status_updated", "status", "updated_at"),
        Index("ix_reviews_user_created", "user_id", "created_at"),
    )


class ReviewVote(Base):
    """A helpful vote: +1 or -1, one per (review, user)."""

    __tablename__ = "review_votes"

    review_id: Mapped[str] = mapped_column(
        ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReviewMedia(Base):
    """An uploaded, validated file; attached to at most one review."""

    __tablename__ = "review_media"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), index=True)
    review_id: Mapped[str | None] = mapped_column(
        ForeignKey("reviews.id", ondelete="SET NULL"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(8))
    content_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    storage_key: Mapped[str] = mapped_column(String(200))
    thumbnail_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProductRating(Base):
    """Aggregate of a product's APPROVED reviews, rewritten on every approval or removal."""

    __tablename__ = "product_ratings"

    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    star1: Mapped[int] = mapped_column(Integer, default=0)
    star2: Mapped[int] = mapped_column(Integer, default=0)
    star3: Mapped[int] = mapped_column(Integer, default=0)
    star4: Mapped[int] = mapped_column(Integer, default=0)
    star5: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RatingTotals(Base):
    """Catalog-wide approved review count and rating sum (the Bayesian prior's mean); one row
    with id ``catalog``, changed by atomic increments."""

    __tablename__ = "rating_totals"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    rating_sum: Mapped[int] = mapped_column(BigInteger, default=0)
