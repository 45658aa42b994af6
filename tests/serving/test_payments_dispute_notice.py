"""A dispute notifies the shop's admins (SHOPFLOW_NOTIFY_ADMIN_USER_IDS) through the
notification service: one message per admin per event, none to the buyer; the mail reaches a
real SMTP server, amounts formatted with the currency's exponent."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from commerce.db import session_scope
from commerce.db.models.notifications import Notification
from commerce.notifications import delivery, service
from shopflow.config import get_settings
from tests.serving.fakes.notifications import (  # noqa: F401  (fixtures)
    channels,
    notify_settings,
    payment,
    set_prefs,
    smtp,
)
from tests.serving.fakes.smtp_server import body_text


@pytest.fixture
def admins(notify_settings, monkeypatch: pytest.MonkeyPatch) -> list[str]:  # noqa: F811
    monkeypatch.setenv("SHOPFLOW_NOTIFY_ADMIN_USER_IDS", '["admin-1", "admin-2"]')
    get_settings.cache_clear()
    for admin in ("admin-1", "admin-2"):
        set_prefs(admin, email=f"{admin}@shop.example")
    return ["admin-1", "admin-2"]


def test_dispute_lost_mails_every_admin_once(admins, smtp, channels) -> None:  # noqa: F811
    set_prefs("buyer", email="buyer@example.com")
    event = payment("payment.dispute_closed", "buyer", amount=1250, currency="KWD",
                    status="CHARGED_BACK", disputed_minor=1250)  # fmt: skip
    for _ in range(2):  # a redelivered event makes nothing new
        for triggered in service.handle_events([event]):
            delivery.deliver_many(triggered.due_now, channels)
    with session_scope() as session:
        rows = session.scalars(select(Notification).where(Notification.workflow == "dispute_alert"))
        assert sorted(n.user_id for n in rows) == admins
    mails = smtp.inbox.messages
    assert sorted(m["To"] for m in mails) == ["admin-1@shop.example", "admin-2@shop.example"]
    assert "Dispute lost" in mails[0]["Subject"] and "KWD 1.250" in body_text(mails[0])
