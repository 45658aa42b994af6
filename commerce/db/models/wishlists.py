"""Wishlists, their items, the per-user compare list and sent wishlist alerts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from commerce.db import Base, UTCDateTime, utcnow


class Wishlist(Base):
    """A named list per user. ``share_token`` (unguessable, nullable) opens a read-only
    public view; revoking sets it to None."""

    __tablename__ = "wishlists"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(100))
    share_token: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    items: Mapped[list[WishlistItem]] = relationship(
        back_populates="wishlist",
        order_by="WishlistItem.added_at",
        cascade="all, delete-orphan",
        lazy="selectin",
    )

    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_wishlists_user_name"),)


class WishlistItem(Base):
    """A product on a wishlist with its price when it was added."""

    __tablename__ = "wishlist_items"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    wishlist_id: Mapped[str] = mapped_column(ForeignKey("wishlists.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)
    price_at_add_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    wishlist: Mapped[Wishlist] = relationship(back_populates="items")

    __table_args__ = (
        UniqueConstraint("wishlist_id", "product_id", name="uq_wishlist_items_product"),
    )


class CompareItem(Base):
    """A product on a user's compare list (two to four are compared)."""

    __tablename__ = "compare_items"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WishlistAlertSent(Base):
    """One row per alert emitted: (source event, user, product, kind) is unique, so a
    redelivered price or stock event emits nothing twice."""

    __tablename__ = "wishlist_alerts"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    source_event_id: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(String(128))
    product_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint(
            "source_event_id", "user_id", "product_id", "kind", name="uq_wishlist_alerts_once"
        ),
        Index("ix_wishlist_alerts_user", "user_id", "created_at"),
    )
