"""An email subject experiment: the order confirmation's subject comes from a feature whose
experiment picks the variant per user; a real SMTP server receives both variants and each
exposure goes to the exposure stream (``rec_impression``) through the outbox."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from commerce.db import session_scope
from commerce.db.models.core import OutboxEvent
from commerce.notifications import delivery, service
from shopflow import events
from shopflow.config import PACKAGE_ROOT, get_settings
from shopflow.experiments.evaluate import current_evaluator
from tests.serving.fakes.notifications import (  # noqa: F401  (fixtures)
    NOON,
    channels,
    notify_settings,
    set_prefs,
    smtp,
)


@pytest.fixture
def subject_test(tmp_path, monkeypatch: pytest.MonkeyPatch):
    text = (PACKAGE_ROOT / "experiments.yaml").read_text()
    running = text.replace("status: draft  # set to running to start the test", "status: running")
    assert running != text
    path = tmp_path / "experiments.yaml"
    path.write_text(running)
    monkeypatch.setenv("SHOPFLOW_EXPERIMENTS_FILE", str(path))
    get_settings.cache_clear()
    return path


def _order(user: str) -> events.Envelope:
    line = {"item_id": "sku-1", "quantity": 1, "unit_price_minor": 4999}
    payload = {"order_id": f"o-{user}", "total_minor": 4999, "currency": "EUR", "lines": [line]}
    return events.make_event("order_placed", payload, user_id=user, occurred_at=NOON)


def test_order_confirmation_subject_follows_the_users_variant(
    subject_test,
    smtp,  # noqa: F811
    channels,  # noqa: F811
) -> None:
    users = [f"s{i}" for i in range(12)]
    for user in users:
        set_prefs(user, email=f"{user}@example.com")
        for triggered in service.handle_event(_order(user), now=NOON):
            delivery.deliver_many(triggered.due_now, channels, NOON)

    evaluator = current_evaluator(subject_test)
    expected = {}
    for user in users:
        result = evaluator.evaluate("order-confirmation-subject", {"id": user})
        assert result.experiment is not None
        expected[f"{user}@example.com"] = (
            result.value.format(order_id=f"o-{user}"),
            result.experiment.variation_key,
        )
    got = {m["To"]: m["Subject"] for m in smtp.inbox.messages}
    assert got == {to: subject for to, (subject, _) in expected.items()}
    assert {variant for _, variant in expected.values()} == {"control", "friendly"}

    with session_scope() as session:
        rows = session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == "rec_impression")
        ).all()
        exposures = [json.loads(r.envelope_json) for r in rows]
    assert sorted((e["user_id"], e["payload"]["variant"]) for e in exposures) == sorted(
        (to.split("@")[0], variant) for to, (_, variant) in expected.items()
    )
    assert {e["payload"]["experiment_key"] for e in exposures} == {"email-subject"}


def test_without_a_running_test_the_subject_is_unchanged(smtp, channels) -> None:  # noqa: F811
    set_prefs("s99", email="s99@example.com")
    for triggered in service.handle_event(_order("s99"), now=NOON):
        delivery.deliver_many(triggered.due_now, channels, NOON)
    assert [m["Subject"] for m in smtp.inbox.messages] == ["Order o-s99 confirmed"]
