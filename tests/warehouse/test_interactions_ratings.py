"""Explicit feedback in fct_interactions, built by the real dbt project from rating events:
the latest rating per pair, disliked below the threshold its event carries, positive ratings
added to the weight, disliked pairs kept; incremental runs agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb

from shopflow import events, landing
from shopflow.config import Settings
from tests.warehouse.analytics_data import dbt, load

DAY = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
SELECT = [
    "--select",
    "+fct_interactions",
    "+dim_users",
    "+dim_items",
    "--indirect-selection",
    "cautious",
]


def rating(user: str, item: str, value: float, at: datetime, threshold: float = 4.0):
    payload = {"item_id": item, "rating": value, "scale_min": 0.5, "scale_max": 5.0,
               "positive_threshold": threshold}  # fmt: skip
    return events.make_event("rating", payload, user_id=user, occurred_at=at)


def other(kind: str, user: str | None, at: datetime, **payload: object) -> events.Envelope:
    return events.make_event(kind, payload, user_id=user, occurred_at=at)


def product(item: str) -> events.Envelope:
    return other("product.upserted", None, DAY - timedelta(days=1), item_id=item,
                 title=item, category="c", price_minor=100, currency="USD", stock=1)  # fmt: skip


def interactions(settings: Settings) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(
            """select user_id, item_id, weight, views, add_to_carts, rating, disliked
            from fct_interactions order by 1, 2"""
        ).fetchall()


def test_ratings_give_rating_disliked_and_weight(tmp_path) -> None:
    settings = Settings(home=tmp_path / "home")
    settings.ensure_dirs()
    h = timedelta(hours=1)
    landing.write_events([
        *(product(i) for i in ("i1", "i2", "i3", "i4")),
        other("product_view", "u1", DAY, item_id="i1"),
        rating("u1", "i1", 4.5, DAY + h),  # positive: 1 (view) + 4.5
        rating("u1", "i2", 2.0, DAY),
        rating("u1", "i2", 4.0, DAY + h),  # the latest rating counts, not the sum
        other("add_to_cart", "u1", DAY, item_id="i3", quantity=1, unit_price_minor=100,
              currency="USD"),  # fmt: skip
        rating("u1", "i3", 1.5, DAY + h),  # disliked: adds nothing, keeps the cart's 4
        rating("u2", "i4", 0.5, DAY),  # disliked, nothing else: weight 0, row kept
        other("product_view", "u2", DAY, item_id="i1"),  # never rated
        rating("u3", "i1", 3.5, DAY, threshold=3.0),  # another import's threshold: positive
        rating("u3", "i9", 5.0, DAY),  # an item the catalog lacks: a warning, not a failure
    ], settings)  # fmt: skip
    load(settings)
    dbt(settings, "build", *SELECT)
    assert interactions(settings) == [
        ("u1", "i1", 5.5, 1, 0, 4.5, False),
        ("u1", "i2", 4.0, 0, 0, 4.0, False),
        ("u1", "i3", 4.0, 0, 1, 1.5, True),
        ("u2", "i1", 1.0, 1, 0, None, False),
        ("u2", "i4", 0.0, 0, 0, 0.5, True),
        ("u3", "i1", 3.5, 0, 0, 3.5, False),
        ("u3", "i9", 5.0, 0, 0, 5.0, False),
    ]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        users = con.execute("select user_id from dim_users order by 1").fetchall()
        types = dict(con.execute("describe fct_interactions").fetchall()[i][:2] for i in range(13))
    assert users == [("u1",), ("u2",), ("u3",)]  # rating-only users are users too
    assert (types["rating"], types["disliked"]) == ("DOUBLE", "BOOLEAN")

    # A later rating changes its mind; the incremental run recomputes that pair only.
    landing.write_events([rating("u2", "i4", 5.0, DAY + 2 * h)], settings)
    load(settings)
    dbt(settings, "build", *SELECT)
    after = interactions(settings)
    assert ("u2", "i4", 5.0, 0, 0, 5.0, False) in after
    dbt(settings, "build", "--full-refresh", *SELECT)
    assert interactions(settings) == after
