"""A small hand-made shop with known analytics answers, and helpers that load it into a
DuckDB warehouse and build the analytics marts with the real dbt project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipelines.raw_load import load_landing
from shopflow import events, landing
from shopflow.config import Settings

REPO = Path(__file__).resolve().parents[2]
DBT_DIR = REPO / "warehouse"
DBT = str(Path(sys.executable).parent / "dbt")
ANALYTICS = "path:models/marts/analytics"

D1 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)  # a Monday
D2 = D1 + timedelta(days=1)
D3 = D1 + timedelta(days=7)  # the next week
D4 = D3 + timedelta(days=1)
EXP = "recs-strategy-v1"


def ev(kind: str, at: datetime, user: str | None, session: str | None, **payload: Any):
    return events.make_event(kind, payload, occurred_at=at, user_id=user, session_id=session)


def _product(item: str, category: str, price: int) -> events.Envelope:
    return ev(
        "product.upserted", D1 - timedelta(days=1), None, None, item_id=item,
        title=f"Item {item}", category=category, price_minor=price, currency="USD", stock=9,
    )  # fmt: skip


def _pay(kind: str, pay: str, order: str, user: str, at: datetime, method: str, amount: int,
         **extra: Any) -> events.Envelope:  # fmt: skip
    return ev(
        f"payment.{kind}", at, user, None, payment_id=pay, order_id=order, amount_minor=amount,
        currency="USD", method=method, gateway="test", status=kind, **extra,
    )  # fmt: skip


def _order(order: str, user: str, session: str, at: datetime, item: str, qty: int, price: int):
    line = {"item_id": item, "quantity": qty, "unit_price_minor": price}
    return ev(
        "order_placed", at, user, session, order_id=order, lines=[line],
        total_minor=qty * price, currency="USD",
    )  # fmt: skip


def _review(kind: str, review: str, user: str, at: datetime, rating: int, **extra: Any):
    return ev(f"review.{kind}", at, user, None, review_id=review, item_id="i1", rating=rating,
              **extra)  # fmt: skip


def shop_events() -> list[events.Envelope]:
    """Days D1, D2 (week 1) and D3 (week 2). Known answers are asserted in the tests."""
    m = timedelta(minutes=1)
    return [
        _product("i1", "Shoes", 1000),
        _product("i2", "Books", 500),
        # u1 on D1: the full funnel from ads/mobile, via a recommendation click
        ev("session_start", D1, "u1", "s1", traffic_source="ads", device="mobile"),
        ev(
            "rec_impression",
            D1 + m,
            "u1",
            "s1",
            request_id="r1",
            item_ids=["i1", "i2"],
            model_name="popularity",
            model_version="v1",
            experiment_key=EXP,
            variant="control",
        ),  # fmt: skip
        ev(
            "rec_click",
            D1 + 2 * m,
            "u1",
            "s1",
            request_id="r1",
            item_id="i1",
            position=0,
            model_version="v1",
            experiment_key=EXP,
            variant="control",
        ),  # fmt: skip
        ev("product_view", D1 + 3 * m, "u1", "s1", item_id="i1"),
        ev(
            "add_to_cart",
            D1 + 4 * m,
            "u1",
            "s1",
            item_id="i1",
            quantity=2,
            unit_price_minor=1000,
            currency="USD",
        ),  # fmt: skip
        ev(
            "checkout_started",
            D1 + 5 * m,
            "u1",
            "s1",
            cart_value_minor=2000,
            currency="USD",
            item_count=2,
        ),  # fmt: skip
        _order("o1", "u1", "s1", D1 + 6 * m, "i1", 2, 1000),
        _pay("completed", "p1", "o1", "u1", D1 + 7 * m, "STRIPE", 2000),
        # u2 on D1 from search/desktop: checkout, payment fails
        ev("session_start", D1, "u2", "s2", traffic_source="search", device="desktop"),
        ev("product_view", D1 + m, "u2", "s2", item_id="i2"),
        ev(
            "add_to_cart",
            D1 + 2 * m,
            "u2",
            "s2",
            item_id="i2",
            quantity=1,
            unit_price_minor=500,
            currency="USD",
        ),  # fmt: skip
        ev(
            "checkout_started",
            D1 + 3 * m,
            "u2",
            "s2",
            cart_value_minor=500,
            currency="USD",
            item_count=1,
        ),  # fmt: skip
        _order("o2", "u2", "s2", D1 + 4 * m, "i2", 1, 500),
        _pay(
            "failed",
            "p2",
            "o2",
            "u2",
            D1 + 5 * m,
            "CREDIT_CARD",
            500,
            failure_reason="card_declined",
        ),  # fmt: skip
        ev(
            "rec_impression",
            D1 + m,
            "u2",
            "s2",
            request_id="r2",
            item_ids=["i1"],
            model_name="als",
            model_version="v1",
            experiment_key=EXP,
            variant="als",
        ),
        # u3 views only; u4 bounces
        ev("session_start", D1, "u3", "s3", traffic_source="search", device="desktop"),
        ev("product_view", D1 + m, "u3", "s3", item_id="i2"),
        ev("session_start", D1, "u4", "s4", traffic_source="direct", device="desktop"),
        # u1 again on D2: a PayPal order, partly refunded
        ev("session_start", D2, "u1", "s5", traffic_source="ads", device="mobile"),
        ev("product_view", D2 + m, "u1", "s5", item_id="i2"),
        _order("o3", "u1", "s5", D2 + 2 * m, "i2", 2, 500),
        _pay("completed", "p3", "o3", "u1", D2 + 3 * m, "PAYPAL", 1000),
        _pay("refunded", "p3", "o3", "u1", D2 + 4 * m, "PAYPAL", 1000, refunded_minor=400),
        # reviews: one good, one spam
        _review("submitted", "rv1", "u1", D1 + m, 5),
        _review("submitted", "rv2", "u3", D1 + m, 1, spam_score=0.9),
        _review("approved", "rv1", "u1", D2, 5),
        _review("rejected", "rv2", "u3", D2, 1, reason="spam", spam_score=0.9),
        # week 2: u2 comes back
        ev("session_start", D3, "u2", "s6", traffic_source="direct", device="mobile"),
        ev("product_view", D3 + m, "u2", "s6", item_id="i1"),
    ]


def day4_events() -> list[events.Envelope]:
    m = timedelta(minutes=1)
    return [
        ev("session_start", D4, "u3", "s7", traffic_source="email", device="tablet"),
        ev("product_view", D4 + m, "u3", "s7", item_id="i1"),
    ]


def load(settings: Settings) -> None:
    """Landing -> raw tables of the warehouse (the pipeline's own loader)."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        load_landing(con, settings.landing_dir)


def dbt(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run dbt on the project against this warehouse, with its own target and log dirs."""
    env = os.environ | {
        "SHOPFLOW_WAREHOUSE_PATH": str(settings.warehouse_path),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    work = settings.home_dir / "dbt"
    cmd = [DBT, *args, "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR),
           "--target-path", str(work / "target"), "--log-path", str(work / "logs")]  # fmt: skip
    done = subprocess.run(cmd, env=env, cwd=DBT_DIR, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{done.stdout[-6000:]}")
    return done


def build_analytics(settings: Settings, *extra: str) -> None:
    """Build the analytics marts and their parents, then run the analytics tests."""
    dbt(settings, "run", "--select", f"+{ANALYTICS}", *extra)
    dbt(settings, "test", "--select", ANALYTICS)


def shop_warehouse(settings: Settings) -> Path:
    """The small shop loaded and its marts built; returns the warehouse path."""
    landing.write_events(shop_events(), settings)
    load(settings)
    build_analytics(settings)
    return settings.warehouse_path


_BUILT: dict[str, Path] = {}


def built_home(factory: pytest.TempPathFactory) -> Path:
    """The small shop landed, loaded and built (marts, dbt tests) once per test session, shared
    by the analytics and dashboard tests (dbt is the slow part). Read it, or ``copy_home`` it
    before changing anything."""
    if "home" not in _BUILT:
        settings = Settings(home=factory.mktemp("analytics-built"))
        settings.ensure_dirs()
        shop_warehouse(settings)
        _BUILT["home"] = settings.home_dir
    return _BUILT["home"]


def copy_home(source: Path, target: Path) -> Settings:
    """A private copy of a built home (without dbt's target and logs)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("dbt"))
    return Settings(home=target)
