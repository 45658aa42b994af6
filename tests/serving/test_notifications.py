"""Notifications end to end below the HTTP layer, on SQLite and PostgreSQL: events trigger
workflows, templates render, a real SMTP server receives the mail; preferences, quiet hours,
digests, retries and the dead-letter state, template injection, idempotency; concurrent
batch workers; the SMTP batch over one connection (refusals, reconnects)."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from commerce.db import session_scope
from commerce.db.models.core import OutboxEvent
from commerce.db.models.notifications import NotificationDelivery, NotificationTemplate
from commerce.notifications import delivery, service
from commerce.notifications.channels.base import ChannelError, OutgoingMessage, SendResult
from commerce.notifications.channels.email_smtp import SmtpEmail
from commerce.notifications.channels.sendgrid import SendGridEmail
from tests.serving.fakes.notifications import (  # noqa: F401  (fixtures)
    NOON,
    channels,
    notify_settings,
    payment,
    price_drop,
    set_prefs,
    smtp,
)
from tests.serving.fakes.notify_vendors import SENDGRID_KEY, FakeSendGrid
from tests.serving.fakes.smtp_server import body_html, body_text


def deliveries(user: str) -> dict[str, NotificationDelivery]:
    with session_scope() as session:
        rows = session.scalars(
            select(NotificationDelivery).where(NotificationDelivery.user_id == user)
        )
        return {d.channel: d for d in rows}


def run(event, channels, now=NOON) -> list[service.Triggered]:  # noqa: ANN001, F811
    done = service.handle_event(event, now=now)
    for triggered in done:
        delivery.deliver_many(triggered.due_now, channels, now)
    return done


def outbox_types() -> list[str]:
    with session_scope() as session:
        return [e.event_type for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]


def test_confirmed_payment_emails_one_receipt_with_the_amount(smtp, channels) -> None:  # noqa: F811
    set_prefs("u1", email="ada@example.com")
    event = payment("payment.completed", "u1", amount=123456, currency="EUR")
    first = run(event, channels)
    again = run(event, channels)  # the same event delivered twice

    assert [t.created for t in first] == [True] and [t.created for t in again] == [False]
    assert len(smtp.inbox.messages) == 1
    mail = smtp.inbox.messages[0]
    assert mail["To"] == "ada@example.com"
    assert "€1,234.56" in mail["Subject"] and "ord-u1" in mail["Subject"]
    assert "€1,234.56" in body_text(mail) and "<strong>€1,234.56</strong>" in body_html(mail)
    email = deliveries("u1")["email"]
    assert (email.status, email.attempts, email.provider) == ("sent", 1, "smtp")
    assert email.provider_message_id == mail["Message-ID"]
    assert outbox_types().count("notification.sent") == 2  # email + in-app (nobody listening)


def test_opted_out_channel_is_skipped_and_critical_still_goes_out(smtp, channels) -> None:  # noqa: F811
    set_prefs("u2", email="bo@example.com", channels={"email": False},
              categories={"transactional": False})  # fmt: skip
    run(payment("payment.failed", "u2", failure_reason="card_declined"), channels)
    notice = deliveries("u2")
    assert notice["email"].status == "skipped" and "opted out" in notice["email"].reason
    assert smtp.inbox.messages == []

    run(payment("payment.completed", "u2"), channels)  # a receipt is critical
    assert [m["To"] for m in smtp.inbox.messages] == ["bo@example.com"]
    assert "Receipt" in smtp.inbox.messages[0]["Subject"]


def test_quiet_hours_defer_the_message_until_they_end(smtp, channels) -> None:  # noqa: F811
    # 12:00 UTC is 21:00 in Tokyo: inside 20:00-08:00, which ends at 23:00 UTC.
    set_prefs("u3", email="cy@example.com", timezone="Asia/Tokyo",
              quiet_hours={"start": "20:00", "end": "08:00"})  # fmt: skip
    run(payment("payment.refunded", "u3", refunded_minor=500), channels)
    email = deliveries("u3")["email"]
    assert email.status == "queued" and email.reason == "quiet hours"
    assert email.not_before == NOON + timedelta(hours=11)
    assert deliveries("u3")["in_app"].status == "sent"  # in-app is never deferred

    assert delivery.deliver_due(channels, NOON + timedelta(hours=10)) == {}
    assert smtp.inbox.messages == []
    sent = delivery.deliver_due(channels, NOON + timedelta(hours=11))
    assert list(sent.values()) == ["sent"]
    assert "Refund of $5.00" in smtp.inbox.messages[0]["Subject"]


def test_digest_groups_three_price_drops_into_one_message(smtp, channels) -> None:  # noqa: F811
    set_prefs("u4", email="di@example.com")
    for i, (old, new) in enumerate([(5000, 3999), (2000, 1500), (990, 900)]):
        done = run(price_drop("u4", f"sku-{i}", old, new), channels, NOON + timedelta(minutes=i))
        assert done[0].digested
    assert service.flush_digests(NOON + timedelta(minutes=30)) == []  # window still open
    flushed = service.flush_digests(NOON + timedelta(hours=1))
    assert len(flushed) == 1
    delivery.deliver_many(flushed[0].due_now, channels, NOON + timedelta(hours=1))
    assert service.flush_digests(NOON + timedelta(hours=2)) == []

    assert len(smtp.inbox.messages) == 1
    mail = smtp.inbox.messages[0]
    assert mail["Subject"] == "3 price drops on your wishlist"
    text = body_text(mail)
    for line in ("sku-0: €50.00 -> €39.99", "sku-1: €20.00 -> €15.00", "sku-2: €9.90 -> €9.00"):
        assert line in text


def test_failing_provider_retried_then_dead(notify_settings, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setattr(notify_settings, "notify_max_attempts", 3)
    set_prefs("u5", email="ed@example.com")
    fake = FakeSendGrid()
    fake.fail_next = 99
    with fake.running() as server:
        email = SendGridEmail(SENDGRID_KEY, "Shop <shop@example.com>", server.url)
        chans = {"email": email}
        run(payment("payment.completed", "u5"), chans)
        first = deliveries("u5")["email"]
        assert (first.status, first.attempts) == ("queued", 1)
        assert first.not_before == NOON + timedelta(seconds=10)
        assert "HTTP 503" in first.last_error

        assert delivery.deliver_due(chans, NOON + timedelta(seconds=9)) == {}
        assert list(delivery.deliver_due(chans, NOON + timedelta(seconds=10)).values()) == [
            "queued"
        ]
        assert deliveries("u5")["email"].not_before == NOON + timedelta(seconds=30)  # 10 + 2*10
        assert list(delivery.deliver_due(chans, NOON + timedelta(minutes=5)).values()) == ["dead"]
        assert delivery.deliver_due(chans, NOON + timedelta(days=1)) == {}
        email.close()
    dead = deliveries("u5")["email"]
    assert (dead.status, dead.attempts) == ("dead", 3)
    assert len([r for r in fake.requests if r["path"] == "/v3/mail/send"]) == 3
    with session_scope() as session:
        query = select(OutboxEvent).where(OutboxEvent.event_type == "notification.failed")
        failed = [json.loads(e.envelope_json) for e in session.scalars(query)]
    assert [e["payload"]["dead_letter"] for e in failed] == [True]


def test_template_reaching_python_internals_fails_the_delivery(smtp, channels) -> None:  # noqa: F811
    set_prefs("u6", email="fi@example.com")
    with session_scope() as session:  # bypasses the API's check, as a tampered row would
        unsafe = "{{ ''.__class__.__mro__ }}"
        session.add(NotificationTemplate(key="payment_receipt", channel="email", version=99,
                                         subject=unsafe, text="x"))  # fmt: skip
    run(payment("payment.completed", "u6"), channels)
    email = deliveries("u6")["email"]
    assert email.status == "failed" and "is not allowed" in email.last_error
    assert email.attempts == 0 and smtp.inbox.messages == []


def test_marketing_is_capped_per_day(smtp, channels) -> None:  # noqa: F811
    from commerce.notifications.workflows import load

    set_prefs("u7", email="gi@example.com", marketing_daily_cap=2)
    promo = load().get("promotion")
    data = {"headline": "Sale", "body": "20% off", "url": "https://x.test"}
    for i in range(3):
        done = service.trigger(promo, "u7", data, f"promo-{i}", NOON + timedelta(minutes=i))
        delivery.deliver_many(done.due_now, channels, NOON)
    next_day = service.trigger(promo, "u7", data, "promo-next", NOON + timedelta(days=1))
    assert next_day.due_now
    assert len(smtp.inbox.messages) == 2
    with session_scope() as session:
        skipped = NotificationDelivery.status == "skipped"
        query = select(NotificationDelivery.reason).where(NotificationDelivery.channel == "email")
        reasons = session.scalars(query.where(skipped))
        assert list(reasons) == ["daily marketing cap reached"]


def test_concurrent_workers_send_each_delivery_once(smtp, notify_settings, monkeypatch) -> None:  # noqa: F811
    from concurrent.futures import ThreadPoolExecutor

    from commerce.notifications import channels as registry

    monkeypatch.setattr(notify_settings, "notify_batch_size", 7)  # many small batches
    users = [f"c{i}" for i in range(30)]
    for user in users:
        set_prefs(user, email=f"{user}@example.com")
    created = service.handle_events([payment("payment.completed", u) for u in users], now=NOON)
    assert all(t.created and len(t.due_now) == 2 for t in created)  # email + in-app, not sent

    workers = [registry.build(notify_settings) for _ in range(2)]
    try:
        with ThreadPoolExecutor(2) as pool:
            done = list(pool.map(lambda chans: delivery.deliver_due(chans, NOON), workers))
    finally:
        for chans in workers:
            registry.close_all(chans)
    assert not set(done[0]) & set(done[1])  # no delivery claimed by both
    assert len(done[0]) + len(done[1]) == 60
    sent_to = sorted(m["To"] for m in smtp.inbox.messages)
    assert sent_to == sorted(f"{u}@example.com" for u in users)  # each exactly once
    assert outbox_types().count("notification.sent") == 60


def test_smtp_batch_outlives_a_refused_recipient_and_a_dropped_connection(smtp) -> None:  # noqa: F811
    smtp.inbox.refuse.add("gone@example.com")
    email = SmtpEmail("127.0.0.1", smtp.port, "Shop <shop@example.com>")

    def batch(*to: str) -> list[SendResult | ChannelError]:
        return email.send_many([OutgoingMessage(f"d-{a}", "u", a, "Hi", "Body") for a in to])

    first = batch("a@example.com", "gone@example.com", "b@example.com")
    assert isinstance(first[0], SendResult) and isinstance(first[2], SendResult)
    assert isinstance(first[1], ChannelError) and not first[1].retryable  # 550: permanent
    smtp.restart()  # the kept-alive connection is now dead
    again = batch("c@example.com")
    email.close()
    assert isinstance(again[0], SendResult)
    assert [m["To"] for m in smtp.inbox.messages] == [
        "a@example.com", "b@example.com", "c@example.com"
    ]  # fmt: skip
