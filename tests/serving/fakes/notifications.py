"""Fixtures of the notification tests: a real SMTP server, settings pointing at it and the
session Redis, channels built from those settings, and preference helpers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from commerce.db import session_scope
from commerce.notifications import channels as registry
from commerce.notifications import preferences
from shopflow import events
from shopflow.config import Settings, get_settings
from tests.serving.fakes.smtp_server import SmtpServer


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def notify_settings(
    database: str, smtp: SmtpServer, redis_server: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """Settings on the migrated ``database``, the SMTP fixture and the session Redis."""
    monkeypatch.setenv("SHOPFLOW_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("REDIS_URL", redis_server)
    monkeypatch.setenv("SHOPFLOW_NOTIFY_BACKOFF_BASE_S", "10")
    monkeypatch.setenv("SHOPFLOW_NOTIFY_BACKOFF_CAP_S", "60")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def channels(notify_settings: Settings) -> Iterator[dict[str, Any]]:
    built = registry.build(notify_settings)
    yield built
    registry.close_all(built)


def set_prefs(user_id: str, **fields: Any) -> None:
    with session_scope() as session:
        preferences.save(session, user_id, preferences.Preferences(**fields))


NOON = datetime(2024, 6, 3, 12, 0, tzinfo=UTC)


def payment(kind: str, user: str, amount: int = 12500, currency: str = "USD", **extra: Any):
    payload = {"payment_id": f"pay-{user}", "order_id": f"ord-{user}", "amount_minor": amount,
               "currency": currency, "method": "CREDIT_CARD", "gateway": "stripe",
               "status": kind.split(".")[-1], **extra}  # fmt: skip
    return events.make_event(kind, payload, user_id=user, occurred_at=NOON)


def price_drop(user: str, item: str, old: int, new: int, event_id: str | None = None):
    payload = {"item_id": item, "wishlist_id": f"w-{user}", "price_at_add_minor": old,
               "current_price_minor": new, "currency": "EUR"}  # fmt: skip
    extra = {"event_id": event_id} if event_id else {}
    return events.make_event("wishlist.price_drop", payload, user_id=user, occurred_at=NOON,
                             **extra)  # fmt: skip
