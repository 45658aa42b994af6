"""The analytics marts on a small known shop: funnel, revenue, cohorts, products, recs,
reviews, experiment users; incremental by day; documented (dbt docs generate)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import pytest

from shopflow import landing
from shopflow.config import Settings
from tests.warehouse import analytics_data as shop

MARTS = (
    "mart_funnel_daily",
    "mart_revenue_daily",
    "mart_cohort_retention_weekly",
    "mart_product_daily",
    "mart_recs_daily",
    "mart_reviews_daily",
    "fct_experiment_users",
)
D1, D2 = date(2024, 3, 4), date(2024, 3, 5)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The session's built shop, copied: dbt docs writes into the home."""
    return shop.copy_home(shop.built_home(tmp_path_factory), tmp_path_factory.mktemp("marts") / "h")


def rows(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_funnel_counts_each_strict_step_per_day_and_source(built):
    got = rows(
        built,
        """select traffic_source, device, sessions, product_view_sessions, add_to_cart_sessions,
                  checkout_sessions, paid_sessions, dropped_before_payment, conversion_rate
           from mart_funnel_daily where event_date = '2024-03-04' order by 1""",
    )
    assert got == [
        ("ads", "mobile", 1, 1, 1, 1, 1, 0, 1.0),
        ("direct", "desktop", 1, 0, 0, 0, 0, 0, 0.0),
        ("search", "desktop", 2, 2, 1, 1, 0, 1, 0.0),  # u2's payment failed
    ]


def test_revenue_by_day_category_and_method_with_refunds(built):
    got = rows(
        built,
        """select event_date, category, payment_method, orders, gross_minor, refunds_minor,
                  net_minor, aov_minor from mart_revenue_daily order by 1, 2""",
    )
    assert got == [
        (D1, "Books", "CREDIT_CARD", 1, 500, 0, 500, 500),
        (D1, "Shoes", "STRIPE", 1, 2000, 0, 2000, 2000),
        (D2, "Books", "PAYPAL", 1, 1000, 400, 600, 1000),
    ]


def test_weekly_cohort_retention(built):
    got = rows(
        built,
        """select week_number, active_users, cohort_users, retention_rate
           from mart_cohort_retention_weekly order by 1""",
    )
    assert got == [(0, 4, 4, 1.0), (1, 1, 4, 0.25)]


def test_product_views_and_view_to_purchase(built):
    got = rows(
        built,
        """select item_id, views, viewers, units_purchased, buyers, view_to_purchase_rate
           from mart_product_daily where event_date = '2024-03-04' order by 1""",
    )
    assert got == [("i1", 1, 1, 2, 1, 1.0), ("i2", 2, 2, 1, 1, 0.5)]


def test_recs_ctr_and_attributed_revenue_per_variant(built):
    got = rows(
        built,
        """select variant, impressions, clicks, ctr, clicks_to_cart, attributed_revenue_minor
           from mart_recs_daily order by variant""",
    )
    assert got == [("als", 1, 0, 0.0, 0, 0), ("control", 1, 1, 1.0, 1, 2000)]


def test_reviews_ratings_moderation_and_spam(built):
    got = rows(
        built,
        """select event_date, submitted, avg_rating, approved, rejected, spam, spam_rate
           from mart_reviews_daily order by 1""",
    )
    assert got == [(D1, 2, 3.0, 0, 0, 0, None), (D2, 0, None, 1, 1, 1, 0.5)]


def test_experiment_users_feed_the_stats(built):
    got = rows(
        built,
        """select user_id, variant, impressions, clicks, converted, revenue_minor,
                  pre_revenue_minor from fct_experiment_users order by 1""",
    )
    assert got == [("u1", "control", 1, 1, 1, 3000, 0), ("u2", "als", 1, 0, 1, 500, 0)]


def test_new_day_is_incremental_and_leaves_history_alone(built, tmp_path):
    settings = shop.copy_home(built.home_dir, tmp_path / "home")
    built_at = "select event_date, max(built_at) from mart_funnel_daily group by 1"
    before = dict(rows(settings, built_at))
    landing.write_events(shop.day4_events(), settings)
    shop.load(settings)
    shop.dbt(settings, "run", "--select", f"+{shop.ANALYTICS}")  # (the fixture ran dbt test)
    after = dict(rows(settings, built_at))
    assert after[D1] == before[D1] and after[D2] == before[D2]  # history untouched
    assert date(2024, 3, 12) in after
    assert rows(
        settings,
        "select traffic_source, sessions from mart_funnel_daily where event_date = '2024-03-12'",
    ) == [("email", 1)]
    # a full refresh gives the same numbers
    incremental = rows(settings, "select * exclude (built_at) from mart_funnel_daily order by all")
    shop.dbt(settings, "run", "--select", shop.ANALYTICS, "--full-refresh")
    full = rows(settings, "select * exclude (built_at) from mart_funnel_daily order by all")
    assert incremental == full


def test_a_view_of_an_item_missing_from_the_catalog_counts_and_only_warns(built, tmp_path):
    settings = shop.copy_home(built.home_dir, tmp_path / "home")
    at = shop.D4 + timedelta(hours=1)
    landing.write_events([shop.ev("product_view", at, "u3", "s9", item_id="ghost")], settings)
    shop.load(settings)
    shop.build_analytics(settings)  # dbt run and test pass (the relationship only warns)
    got = rows(settings, "select item_id, views from mart_product_daily where item_id = 'ghost'")
    assert got == [("ghost", 1)]


def test_docs_generate_documents_every_mart_column(built):
    shop.dbt(built, "docs", "generate", "--select", shop.ANALYTICS)
    target = built.home_dir / "dbt" / "target"
    catalog = json.loads((target / "catalog.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    for name in MARTS:
        node = manifest["nodes"][f"model.shopflow.{name}"]
        built_columns = set(catalog["nodes"][f"model.shopflow.{name}"]["columns"])
        documented = {c for c, meta in node["columns"].items() if meta.get("description")}
        assert node["description"], name
        assert {c.lower() for c in built_columns} <= documented, name
