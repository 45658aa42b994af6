"""Rating maths (Wilson lower bound, Bayesian average) and the per-product aggregates.

Aggregates are recomputed from the APPROVED reviews under a row lock whenever a review
enters or leaves APPROVED, so they are exact and concurrent moderations cannot lose one;
the Redis read cache of both (``reviews_cache``) is dropped once the change commits.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from commerce.db import upsert, utcnow
from commerce.db.models.commerce import Product
from commerce.db.models.reviews import ProductRating, RatingTotals, Review, ReviewStatus
from commerce.errors import NotFound
from commerce.reviews import cache as reviews_cache
from shopflow.config import get_settings

CATALOG = "catalog"
STARS = (1, 2, 3, 4, 5)


def wilson_lower_bound(up: int, down: int, z: float = 1.96) -> float:
    """Lower bound of the 95% Wilson interval of the share of "helpful" votes."""
    n = up + down
    if n == 0:
        return 0.0
    p = up / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt((p * (1 - p) + z * z / (4 * n)) / n)
    return (centre - margin) / (1 + z * z / n)


def bayesian_average(
    count: int, rating_sum: int, prior_mean: float | None, prior_weight: float
) -> float | None:
    """(C*m + sum) / (C + n): few reviews pull towards the catalog mean ``m``."""
    if prior_mean is None:
        return rating_sum / count if count else None
    return (prior_weight * prior_mean + rating_sum) / (prior_weight + count)


def insert_ignore(session: Session, model: type[Any], **values: Any) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on SQLite and PostgreSQL."""
    session.execute(upsert(session, model).values(**values).on_conflict_do_nothing())


def refresh_product_rating(session: Session, product_id: str) -> None:
    """Rewrite one product's aggregate from its APPROVED reviews (call after the change is
    flushed, in the same transaction) and move the catalog totals by the difference."""
    session.flush()
    insert_ignore(session, ProductRating, product_id=product_id, count=0, rating_sum=0)
    old_count, old_sum = session.execute(
        select(ProductRating.count, ProductRating.rating_sum)
        .where(ProductRating.product_id == product_id)
        .with_for_update()
    ).one()
    rows = session.execute(
        select(Review.rating, func.count())
        .where(Review.product_id == product_id, Review.status == ReviewStatus.APPROVED)
        .group_by(Review.rating)
    ).all()
    stars = {rating: n for rating, n in rows}
    count = sum(stars.values())
    total = sum(r * n for r, n in stars.items())
    session.execute(
        update(ProductRating)
        .where(ProductRating.product_id == product_id)
        .values(
            count=count,
            rating_sum=total,
            updated_at=utcnow(),
            **{f"star{s}": stars.get(s, 0) for s in STARS},
        )
    )
    catalog_changed = (count, total) != (old_count, old_sum)
    reviews_cache.mark(session, product_id, catalog=catalog_changed)
    if catalog_changed:
        session.execute(
            update(RatingTotals)
            .where(RatingTotals.id == CATALOG)
            .values(
                count=RatingTotals.count + (count - old_count),
                rating_sum=RatingTotals.rating_sum + (total - old_sum),
            )
        )


def catalog_mean(session: Session) -> float | None:
    row = session.execute(
        select(RatingTotals.count.label("n"), RatingTotals.rating_sum).where(
            RatingTotals.id == CATALOG
        )
    ).one_or_none()  # "n": Row.count is tuple.count to a type checker
    return row.rating_sum / row.n if row and row.n else None


def rating_parts(session: Session, product_id: str) -> tuple[dict[str, Any], dict[str, int]]:
    """(the product's aggregate ``{count, sum, stars: [n1..n5]}``, the catalog totals
    ``{count, sum}``) in one Core query; NotFound for an unknown product."""
    query = (
        select(
            Product.id,
            ProductRating.count.label("rating_count"),
            ProductRating.rating_sum,
            *[getattr(ProductRating, f"star{s}") for s in STARS],
            RatingTotals.count.label("catalog_count"),
            RatingTotals.rating_sum.label("catalog_sum"),
        )
        .outerjoin(ProductRating, ProductRating.product_id == Product.id)
        .outerjoin(RatingTotals, RatingTotals.id == CATALOG)
        .where(Product.id == product_id)
    )
    row = session.execute(query).one_or_none()
    if row is None:
        raise NotFound(f"product {product_id!r} not found")
    aggregate = {
        "count": row.rating_count or 0,
        "sum": row.rating_sum or 0,
        "stars": [getattr(row, f"star{s}") or 0 for s in STARS],
    }
    return aggregate, {"count": row.catalog_count or 0, "sum": row.catalog_sum or 0}


def rating_summary(
    product_id: str, aggregate: dict[str, Any], totals: dict[str, int], prior_weight: float
) -> dict[str, Any]:
    """The public rating summary from a product's aggregate and the catalog totals."""
    count, total = aggregate["count"], aggregate["sum"]
    prior = totals["sum"] / totals["count"] if totals["count"] else None
    bayes = bayesian_average(count, total, prior, prior_weight)
    return {
        "product_id": product_id,
        "count": count,
        "mean": round(total / count, 4) if count else None,
        "distribution": {str(s): n for s, n in zip(STARS, aggregate["stars"], strict=True)},
        "bayesian_average": round(bayes, 4) if bayes is not None else None,
        "prior_mean": round(prior, 4) if prior is not None else None,
        "prior_weight": prior_weight,
    }


def product_rating(session: Session, product_id: str) -> dict[str, Any]:
    """The public rating summary of a product (404 for an unknown product), from the
    database (the API serves it from the Redis cache: ``reviews_cache.rating``)."""
    aggregate, totals = rating_parts(session, product_id)
    return rating_summary(product_id, aggregate, totals, get_settings().review_bayes_prior_weight)
