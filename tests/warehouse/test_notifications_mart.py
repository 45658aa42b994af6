"""The notification delivery mart built by the real dbt project from notification.* events
(the outbox events the delivery records write): counts per day, workflow and channel, built
incrementally by day (history left alone, the same numbers as a full refresh)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb

from shopflow import events, landing
from shopflow.config import Settings
from tests.warehouse.analytics_data import dbt, load

DAY = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def status(kind: str, delivery: str, channel: str, at: datetime, attempts: int = 1,
           workflow: str = "payment_receipt", **extra: object) -> events.Envelope:  # fmt: skip
    payload = {"notification_id": f"n-{delivery}", "delivery_id": delivery, "workflow": workflow,
               "category": "transactional", "channel": channel, "provider": "smtp",
               "attempts": attempts, **extra}  # fmt: skip
    return events.make_event(f"notification.{kind}", payload, user_id="u1", occurred_at=at)


def test_delivery_mart_counts_outcomes_per_day_incrementally(tmp_path) -> None:
    settings = Settings(home=tmp_path / "home")
    settings.ensure_dirs()
    m, day = timedelta(minutes=1), timedelta(days=1)
    landing.write_events([
        status("sent", "d1", "email", DAY),
        status("delivered", "d1", "email", DAY + m),
        status("sent", "d2", "email", DAY),
        status("bounced", "d2", "email", DAY + m),
        status("failed", "d3", "email", DAY, attempts=5, dead_letter=True),
        status("failed", "d4", "email", DAY, attempts=0, error="template"),
        status("delivered", "d5", "in_app", DAY),  # in-app: delivered straight away
        status("sent", "d6", "email", DAY + day, workflow="order_confirmation"),
        status("sent", "d7", "email", DAY + 2 * day),
    ], settings)  # fmt: skip
    load(settings)
    selector = "+path:models/marts/notifications"
    dbt(settings, "run", "--select", selector)
    built_at = (
        "select event_date::varchar, max(built_at) from mart_notification_delivery_daily group by 1"
    )
    before = dict(rows(settings, built_at))

    landing.write_events([
        status("delivered", "d7", "email", DAY + 2 * day + m),  # late, within the lookback
        status("sent", "d8", "push", DAY + 3 * day),  # a new day
    ], settings)  # fmt: skip
    load(settings)
    dbt(settings, "build", "--select", selector)  # incremental run + the data tests
    after = dict(rows(settings, built_at))
    assert after["2024-03-04"] == before["2024-03-04"]  # older than the lookback: untouched
    assert after["2024-03-06"] > before["2024-03-06"]  # newest day and its lookback: rebuilt

    counts = """select event_date::varchar, workflow, channel, sent, delivered, failed,
                       dead_lettered, bounced, delivery_rate
                from mart_notification_delivery_daily order by 1, 2, 3"""
    incremental = rows(settings, counts)
    assert incremental == [
        ("2024-03-04", "payment_receipt", "email", 2, 1, 1, 1, 1, 0.5),
        ("2024-03-04", "payment_receipt", "in_app", 1, 1, 0, 0, 0, 1.0),
        ("2024-03-05", "order_confirmation", "email", 1, 0, 0, 0, 0, 0.0),
        ("2024-03-06", "payment_receipt", "email", 1, 1, 0, 0, 0, 1.0),
        ("2024-03-07", "payment_receipt", "push", 1, 0, 0, 0, 0, 0.0),
    ]
    dbt(settings, "run", "--select", selector, "--full-refresh")
    assert rows(settings, counts) == incremental


def rows(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()
