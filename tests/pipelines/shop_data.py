"""A tiny hand-made shop written to the landing zone with the real event contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from shopflow import events, landing
from shopflow.config import Settings

DAY1 = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


def ev(event_type: str, at: datetime, user: str | None, **payload: Any) -> events.Envelope:
    return events.make_event(
        event_type, payload, occurred_at=at, user_id=user, session_id=f"s-{user}"
    )


def product(item: str, at: datetime, price: int = 1000, stock: int = 5) -> events.Envelope:
    return ev(
        "product.upserted",
        at,
        None,
        item_id=item,
        title=f"Item {item}",
        category="Shoes",
        category_path="Apparel > Shoes",
        brand="Acme",
        price_minor=price,
        currency="USD",
        stock=stock,
    )


def payment(kind: str, pay: str, order: str, user: str, at: datetime, **extra: Any):
    return ev(
        f"payment.{kind}",
        at,
        user,
        payment_id=pay,
        order_id=order,
        amount_minor=extra.pop("amount_minor", 2000),
        currency="USD",
        method="STRIPE",
        gateway="test",
        status=kind,
        **extra,
    )


def small_shop() -> list[events.Envelope]:
    """Two users, three items, one paid order, one refunded order."""
    t = DAY1
    return [
        product("i1", t, price=1000),
        product("i2", t, price=500),
        product("i3", t, price=700, stock=2),
        ev(
            "product.price_changed",
            t + timedelta(hours=1),
            None,
            item_id="i1",
            old_price_minor=1000,
            new_price_minor=900,
            currency="USD",
        ),
        ev(
            "product.stock_changed",
            t + timedelta(hours=2),
            None,
            item_id="i3",
            old_stock=2,
            new_stock=0,
        ),
        ev("user.registered", t, "u1", country="DE"),
        ev("user.registered", t, "u2", country="FR"),
        ev("session_start", t, "u1", traffic_source="direct", device="mobile"),
        ev("product_view", t + timedelta(minutes=1), "u1", item_id="i1"),
        ev("product_view", t + timedelta(minutes=2), "u1", item_id="i1"),
        ev(
            "rec_click",
            t + timedelta(minutes=3),
            "u1",
            request_id="r1",
            item_id="i1",
            position=0,
            model_version="1",
        ),
        ev(
            "wishlist_add",
            t + timedelta(minutes=4),
            "u1",
            item_id="i1",
            wishlist_id="w1",
            price_minor=1000,
            currency="USD",
        ),
        ev(
            "add_to_cart",
            t + timedelta(minutes=5),
            "u1",
            item_id="i1",
            quantity=2,
            unit_price_minor=900,
            currency="USD",
        ),
        ev(
            "order_placed",
            t + timedelta(minutes=6),
            "u1",
            order_id="o1",
            lines=[
                {"item_id": "i1", "quantity": 2, "unit_price_minor": 900},
                {"item_id": "i2", "quantity": 1, "unit_price_minor": 200},
            ],
            total_minor=2000,
            currency="USD",
        ),
        payment("created", "p1", "o1", "u1", t + timedelta(minutes=6)),
        payment("completed", "p1", "o1", "u1", t + timedelta(minutes=7)),
        ev("session_start", DAY2, "u2", traffic_source="search", device="desktop"),
        ev("product_view", DAY2, "u2", item_id="i3"),
        ev(
            "order_placed",
            DAY2 + timedelta(minutes=1),
            "u2",
            order_id="o2",
            lines=[{"item_id": "i3", "quantity": 1, "unit_price_minor": 700}],
            total_minor=700,
            currency="USD",
        ),
        payment("created", "p2", "o2", "u2", DAY2 + timedelta(minutes=1), amount_minor=700),
        payment("completed", "p2", "o2", "u2", DAY2 + timedelta(minutes=2), amount_minor=700),
        payment(
            "refunded",
            "p2",
            "o2",
            "u2",
            DAY2 + timedelta(hours=3),
            amount_minor=700,
            refunded_minor=700,
        ),
        ev("product_view", DAY2, None, item_id="i2"),  # anonymous: not an interaction
    ]


def write_small_shop(settings: Settings) -> list[Path]:
    return landing.write_events(small_shop(), settings)


def write_raw_rows(settings: Settings, event_type: str, rows: list[dict[str, Any]]) -> Path:
    """Write rows that bypass validation (as a buggy producer would) into the landing layout."""
    schema = events.arrow_schema(event_type)
    loose = pa.schema([f.with_nullable(True) for f in schema])
    full = [{name: row.get(name) for name in schema.names} for row in rows]
    table = pa.Table.from_pylist(full, schema=loose)
    folder = landing.partition_dir(event_type, "2024-03-01", settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bad-{len(list(folder.iterdir()))}.parquet"
    pq.write_table(table, path)
    return path


def view_row_bad() -> dict[str, Any]:
    """A product_view landing row without its item_id."""
    return {
        "event_id": "v-bad",
        "event_type": "product_view",
        "schema_version": events.SCHEMA_VERSION,
        "occurred_at": DAY1,
        "user_id": "u9",
        "item_id": None,
    }
