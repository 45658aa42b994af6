"""Create and confirm on the fast lane (``serving.fastlane``), on SQLite and PostgreSQL: the
lane answers a checkout's requests with the route's status, headers and rules (Location,
idempotent replays, 401/403, an absent confirm body), and hands whatever it does not take to
FastAPI, whose answer stays the route's own."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from commerce import api_keys
from serving.routers import payments
from tests.lane_spy import spy_on_handler
from tests.serving.fakes.commerce import ADMIN, auth, payment_body, place_order, put_product


@pytest.fixture
def lane_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[dict[str, Any]]]:
    """The values each lane answer was computed from, per lane (its handler, spied on)."""
    return {
        "create": spy_on_handler(monkeypatch, payments, "_create_fast"),
        "confirm": spy_on_handler(monkeypatch, payments, "_confirm_fast"),
    }


@pytest.fixture
def client(lane_calls: dict, api_client: Any) -> Any:
    """The app, started after the spies are in place (it takes its lanes at start-up)."""
    return api_client


@pytest.fixture
def order(client: Any) -> dict:
    put_product(client, "p1", price=1250, stock=50)
    return place_order(client, "alice", [("p1", 2)])


def test_the_shipped_lanes_serve_create_and_confirm() -> None:
    app = FastAPI()
    app.include_router(payments.router)
    shipped = payments.lanes()
    assert [lane.route.endpoint for lane in shipped] == [
        payments.create_payment, payments.confirm_payment,
    ]  # fmt: skip
    assert all(lane.problems(app) == [] for lane in shipped)


def test_a_checkout_on_the_lanes_answers_as_the_routes(
    client: Any, order: dict, lane_calls: dict
) -> None:
    headers = {**auth("alice"), "Idempotency-Key": "checkout-1"}
    created = client.post("/api/payments", json=payment_body(order), headers=headers)
    assert created.status_code == 201, created.text
    pay = created.json()
    assert created.headers["location"].endswith(f"/api/payments/{pay['id']}")
    assert created.headers["content-type"] == "application/json"
    replay = client.post("/api/payments", json=payment_body(order), headers=headers)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == pay and replay.headers["location"] == created.headers["location"]
    [first, _] = lane_calls["create"]
    assert first["idempotency_key"] == "checkout-1" and first["caller"].user_id == "alice"

    confirm = f"/api/payments/{pay['id']}/confirm"
    done = client.post(confirm, headers={**auth("alice"), "Idempotency-Key": "confirm-1"})
    assert done.status_code == 200 and done.json()["status"] == "COMPLETED"
    again = client.post(confirm, json={}, headers={**auth("alice"), "Idempotency-Key": "c-2"})
    assert again.status_code == 409 and again.json()["current_status"] == "COMPLETED"
    assert len(lane_calls["confirm"]) == 2
    assert lane_calls["confirm"][0]["body"] is None  # no body: the route's default
    assert (
        client.get(f"/api/orders/{order['id']}", headers=auth("alice")).json()["status"] == "PAID"
    )


def test_the_lanes_keep_the_routes_credential_rules(
    client: Any, order: dict, lane_calls: dict
) -> None:
    missing = client.post("/api/payments", json=payment_body(order))
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    _, publishable = api_keys.create("publishable", "storefront")
    visitor = {"Authorization": f"Bearer {publishable}"}
    assert (
        client.post("/api/payments", json=payment_body(order), headers=visitor).status_code == 403
    )
    other = client.post("/api/payments", json=payment_body(order), headers=auth("mallory"))
    assert other.status_code == 404  # not their order, as the route says
    confirm = client.post("/api/payments/pay_x/confirm", headers=auth("mallory"))
    assert confirm.status_code == 404
    assert len(lane_calls["create"]) == 1 and len(lane_calls["confirm"]) == 1  # past the auth


def test_what_the_lanes_do_not_take_gets_fastapis_answer(
    client: Any, order: dict, lane_calls: dict
) -> None:
    alice = auth("alice")
    unknown = {**payment_body(order), "card_number": "4242424242424242"}
    refused = client.post("/api/payments", json=unknown, headers=alice)
    assert refused.status_code == 422 and refused.json()["errors"]
    text = client.post(
        "/api/payments", content=b"{}", headers={**alice, "Content-Type": "text/plain"}
    )
    assert text.status_code == 422
    bad_confirm = client.post("/api/payments/pay_x/confirm", json={"unknown": 1}, headers=alice)
    assert bad_confirm.status_code == 422 and bad_confirm.json()["errors"]
    assert lane_calls == {"create": [], "confirm": []}


def test_an_admins_confirm_on_the_lane_is_audited_as_the_route(
    client: Any, order: dict, lane_calls: dict
) -> None:
    pay = client.post("/api/payments", json=payment_body(order), headers=auth("alice")).json()
    admin = auth(ADMIN, "admin")
    done = client.post(f"/api/payments/{pay['id']}/confirm", headers=admin)
    assert done.status_code == 200 and len(lane_calls["confirm"]) == 1
    audited = client.get("/api/admin/audit", headers=admin).json()["items"]
    confirm = next(e for e in audited if e["action"].endswith("/confirm"))
    assert confirm["action"] == "POST /api/payments/{payment_id}/confirm"
    assert confirm["actor_id"] == ADMIN and confirm["status"] == 200
    assert confirm["target_ids"] == {"payment_id": pay["id"]}
