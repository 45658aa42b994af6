"""The notification delivery mart built by the real dbt project from notification.* events
(the outbox events the delivery records write)."""

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


def test_delivery_mart_counts_outcomes_per_day_workflow_and_channel(tmp_path) -> None:
    settings = Settings(home=tmp_path / "home")
    settings.ensure_dirs()
    m = timedelta(minutes=1)
    landing.write_events([
        status("sent", "d1", "email", DAY),
        status("delivered", "d1", "email", DAY + m),
        status("sent", "d2", "email", DAY),
        status("bounced", "d2", "email", DAY + m),
        status("failed", "d3", "email", DAY, attempts=5, dead_letter=True),
        status("failed", "d4", "email", DAY, attempts=0, error="template"),
        status("delivered", "d5", "in_app", DAY),  # in-app: delivered straight away
        status("sent", "d6", "email", DAY + timedelta(days=1), workflow="order_confirmation"),
    ], settings)  # fmt: skip
    load(settings)
    selector = "+path:models/marts/notifications"
    dbt(settings, "run", "--select", selector)
    dbt(settings, "test", "--select", selector)

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute(
            """select event_date::varchar, workflow, channel, sent, delivered, failed,
                      dead_lettered, bounced, delivery_rate
               from mart_notification_delivery_daily order by 1, 2, 3"""
        ).fetchall()
    assert rows == [
        ("2024-03-04", "payment_receipt", "email", 2, 1, 1, 1, 1, 0.5),
        ("2024-03-04", "payment_receipt", "in_app", 1, 1, 0, 0, 0, 1.0),
        ("2024-03-05", "order_confirmation", "email", 1, 0, 0, 0, 0, 0.0),
    ]
