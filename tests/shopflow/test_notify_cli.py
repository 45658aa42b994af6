"""``shopflow notify worker --once``: the scheduler without Kafka sends what became due (a
message deferred by quiet hours, a closed digest window) to a real SMTP server, leaves what
is not due yet, and a second pass sends nothing again. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from commerce.db import session_scope, utcnow
from commerce.db.models.notifications import NotificationDelivery
from commerce.notifications import delivery, service
from tests.serving.fakes.notifications import (  # noqa: F401  (fixtures)
    NOON,
    channels,
    notify_settings,
    payment,
    price_drop,
    set_prefs,
    smtp,
)


def email_of(user: str) -> NotificationDelivery:
    with session_scope() as session:
        return session.scalars(
            select(NotificationDelivery).where(
                NotificationDelivery.user_id == user, NotificationDelivery.channel == "email"
            )
        ).one()


def worker_once() -> None:
    result = CliRunner().invoke(app, ["notify", "worker", "--once"])
    assert result.exit_code == 0, result.output


def test_worker_once_sends_what_became_due(smtp, channels) -> None:  # noqa: F811
    # 12:00 UTC is 21:00 in Tokyo: quiet until 08:00 local (23:00 UTC that day, long past).
    set_prefs("quiet", email="quiet@example.com", timezone="Asia/Tokyo",
              quiet_hours={"start": "20:00", "end": "08:00"})  # fmt: skip
    set_prefs("digest", email="digest@example.com")
    now = utcnow()
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=2))
    set_prefs("later", email="later@example.com", quiet_hours={"start": start,
              "end": end.strftime("%H:%M")})  # fmt: skip
    events = [
        payment("payment.refunded", "quiet", refunded_minor=500),
        price_drop("digest", "sku-1", 5000, 3999),
        price_drop("digest", "sku-2", 2000, 1500),
    ]
    for triggered in service.handle_events(events, now=NOON):  # in-app goes out at once
        delivery.deliver_many(triggered.due_now, channels, NOON)
    for triggered in service.handle_events([payment("payment.refunded", "later")]):
        delivery.deliver_many(triggered.due_now, channels)
    assert email_of("quiet").status == "queued" and email_of("later").status == "queued"
    assert smtp.inbox.messages == []

    worker_once()

    subjects = {m["To"]: m["Subject"] for m in smtp.inbox.messages}
    assert len(smtp.inbox.messages) == 2
    assert subjects["digest@example.com"] == "2 price drops on your wishlist"
    assert "Refund of $5.00" in subjects["quiet@example.com"]
    assert email_of("quiet").status == "sent" and email_of("quiet").attempts == 1
    later = email_of("later")
    assert later.status == "queued" and later.reason == "quiet hours" and later.attempts == 0

    worker_once()  # nothing is due twice
    assert len(smtp.inbox.messages) == 2
