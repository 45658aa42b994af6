"""`shopflow stream notify`: events from the real broker -> one email per event, even when
the event is delivered twice; sign-up emails are remembered."""

from __future__ import annotations

import pytest

from commerce.db import migrate, reset_engines, session_scope
from commerce.notifications import preferences
from pipelines.streaming.notify import NotifyProcessor, subscribed_topics
from pipelines.streaming.runner import ConsumerRunner
from shopflow import events, topics
from shopflow.config import get_settings
from tests.serving.fakes.notifications import payment, set_prefs
from tests.serving.fakes.smtp_server import SmtpServer

from .conftest import produce_plain


@pytest.fixture
def notify_stream(stream_settings, monkeypatch):  # noqa: ANN001, ANN201
    with SmtpServer() as smtp:
        monkeypatch.setenv("SHOPFLOW_SMTP_PORT", str(smtp.port))
        get_settings.cache_clear()
        reset_engines()
        migrate.upgrade()
        yield get_settings(), smtp
        reset_engines()


def test_consumer_notifies_once_per_event(notify_stream) -> None:
    settings, smtp = notify_stream
    assert {topics.PAYMENTS, topics.ORDERS, topics.USERS} <= set(subscribed_topics(settings))
    set_prefs("u1", email="u1@example.com")
    paid = payment("payment.completed", "u1", amount=4999, currency="EUR")
    signup = events.make_event("user.registered", {"country": "DE", "email": "u2@example.com"},
                               user_id="u2")  # fmt: skip
    produce_plain(settings, [paid, signup, paid])  # the payment arrives twice

    processor = NotifyProcessor(settings)
    stats = ConsumerRunner(processor, settings, batch_size=10).run(
        max_seconds=60, until=lambda s: s.consumed >= 3
    )

    assert stats.consumed == 3 and stats.dead_letters == 0
    assert [m["To"] for m in smtp.inbox.messages] == ["u1@example.com"]
    assert "€49.99" in smtp.inbox.messages[0]["Subject"]
    with session_scope() as session:
        assert preferences.load(session, "u2").email == "u2@example.com"
