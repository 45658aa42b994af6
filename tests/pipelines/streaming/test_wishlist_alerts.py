"""`shopflow stream wishlist-alerts` through the real broker: a price drop produced to the
catalog topic yields exactly one wishlist.price_drop per wishlisting user, even when the
event is delivered twice."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from commerce.auth import Principal, Role
from commerce.db import migrate, reset_engines, session_scope
from commerce.db.models.core import OutboxEvent
from commerce.wishlists import service as wishlists
from pipelines.streaming.runner import ConsumerRunner
from pipelines.streaming.wishlist_alerts import WishlistAlertsProcessor
from shopflow import events
from tests.serving.test_reviews_fixtures import make_product

from .conftest import produce_plain


@pytest.fixture
def alerts_stream(stream_settings):  # noqa: ANN001, ANN201
    reset_engines()
    migrate.upgrade()
    yield stream_settings
    reset_engines()


def wishlist(user: str, name: str, *products: str) -> None:
    with session_scope() as session:
        created = wishlists.create(session, user, name)
        for pid in products:
            wishlists.add_item(
                session, Principal(user, frozenset([Role.customer])), created.id, pid
            )


def price_drops() -> list[events.Envelope]:
    with session_scope() as session:
        rows = session.scalars(
            select(OutboxEvent.envelope_json).where(OutboxEvent.event_type == "wishlist.price_drop")
        ).all()
    return [events.parse_event(json.loads(r)) for r in rows]


def test_price_change_on_the_broker_alerts_each_wishlisting_user_once(alerts_stream) -> None:
    settings = alerts_stream
    make_product("p1", price=10_000)
    make_product("p2", price=500)
    wishlist("u1", "A", "p1")
    wishlist("u1", "B", "p1")  # two lists, one user: one alert
    wishlist("u2", "A", "p1", "p2")
    wishlist("u3", "A", "p2")  # does not hold p1
    drop = events.make_event(
        "product.price_changed",
        {"item_id": "p1", "old_price_minor": 10_000, "new_price_minor": 8_000, "currency": "USD"},
    )
    produce_plain(settings, [drop, drop])  # delivered twice

    stats = ConsumerRunner(WishlistAlertsProcessor(), settings, batch_size=10).run(
        max_seconds=60, until=lambda s: s.consumed >= 2
    )

    assert stats.consumed == 2 and stats.dead_letters == 0
    alerts = price_drops()
    assert sorted(a.user_id for a in alerts) == ["u1", "u2"]
    assert {(a.payload.item_id, a.payload.current_price_minor) for a in alerts} == {("p1", 8_000)}
    # the same consumer as a command: registered under `shopflow stream`
    shown = CliRunner().invoke(app, ["stream", "wishlist-alerts", "--help"])
    assert shown.exit_code == 0 and "--max-seconds" in shown.output
