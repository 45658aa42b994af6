"""An Idempotency-Key left "in progress" by an owner that died is taken over once its lease
lapses; while a live owner holds it, a duplicate waits asleep, then gets a 409 with
Retry-After; a live owner renews its lease however long it works. On SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from commerce import idempotency
from commerce.db import session_scope, utcnow
from commerce.db.models.core import IdempotencyRecord
from commerce.errors import Invalid
from shopflow.config import get_settings
from tests.serving.fakes.commerce import auth, place_order, put_product


def _orphan(scope: str, key: str, payload: object, lease_left_s: float) -> None:
    """The record an owner leaves when it dies mid-handler."""
    now = utcnow()
    with session_scope() as session:
        session.add(
            IdempotencyRecord(
                scope=scope, key=key, request_hash=idempotency.request_hash(payload),
                expires_at=now + idempotency.TTL,
                lease_until=now + timedelta(seconds=lease_left_s),
            )
        )  # fmt: skip


def _lapse(scope: str, key: str) -> None:
    with session_scope() as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )


def test_a_dead_owners_key_is_taken_over(database: str) -> None:
    _orphan("refund", "k1", {"n": 1}, lease_left_s=30)
    ran: list[int] = []

    def handler() -> tuple[int, dict]:
        ran.append(1)
        return 200, {"done": True}

    with pytest.raises(idempotency.InProgress) as held:
        idempotency.run_idempotent("k1", "refund", {"n": 1}, handler)
    assert held.value.retry_after is not None and 1 <= held.value.retry_after <= 30
    assert ran == []
    _lapse("refund", "k1")
    with pytest.raises(Invalid):  # other parameters never take a key over
        idempotency.run_idempotent("k1", "refund", {"n": 2}, handler)
    assert idempotency.run_idempotent("k1", "refund", {"n": 1}, handler) == (
        200, {"done": True}, False,
    )  # fmt: skip
    assert idempotency.run_idempotent("k1", "refund", {"n": 1}, handler)[2] is True
    assert ran == [1]


def test_a_live_owner_renews_its_lease(database: str) -> None:
    get_settings().idempotency_lease_s = 0.3
    seen: list[object] = []

    def slow() -> tuple[int, dict]:
        time.sleep(1.0)  # more than three leases: renewed meanwhile
        try:
            idempotency.run_idempotent("k2", "slow", {}, lambda: (200, {"twice": True}))
        except idempotency.InProgress as exc:
            seen.append(exc)
        return 200, {"once": True}

    assert idempotency.run_idempotent("k2", "slow", {}, slow)[1] == {"once": True}
    assert len(seen) == 1  # the duplicate inside found the lease alive


def test_a_duplicate_waits_then_gets_409_with_retry_after(api_client) -> None:
    settings = get_settings()
    settings.idempotency_wait_s = 0.3
    put_product(api_client, "p1", stock=5)
    order = place_order(api_client, "alice", [("p1", 1)])
    scope, key = "orders.cancel:alice", "cancel-1"
    _orphan(scope, key, {"order_id": order["id"]}, lease_left_s=30)
    url, headers = f"/api/orders/{order['id']}/cancel", auth("alice") | {"Idempotency-Key": key}
    held = api_client.post(url, headers=headers)
    assert held.status_code == 409 and int(held.headers["retry-after"]) >= 1
    assert held.headers["content-type"] == "application/problem+json"
    _lapse(scope, key)  # the owner died: its lease runs out
    taken = api_client.post(url, headers=headers)
    assert taken.status_code == 200 and taken.json()["status"] == "CANCELLED"
    replay = api_client.post(url, headers=headers)
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
