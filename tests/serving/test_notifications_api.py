"""The notifications HTTP API on SQLite and PostgreSQL: admin trigger (Idempotency-Key), a
user's own messages, preferences, template CRUD + preview, stats, the WebSocket."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from commerce.auth import mint_token
from tests.serving.fakes.commerce import auth
from tests.serving.fakes.notifications import (  # noqa: F401  (fixtures)
    notify_settings,
    smtp,
)

ADMIN = auth("admin-1", "admin")
RECEIPT = {"order_id": "o-9", "payment_id": "p-9", "amount_minor": 4200, "currency": "GBP"}


@pytest.fixture
def client(notify_settings) -> Iterator[TestClient]:  # noqa: F811
    from serving.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


def trigger(client: TestClient, key: str, user: str, workflow: str = "payment_receipt",
            data: dict | None = None, headers: dict | None = None):  # fmt: skip
    body = {"workflow": workflow, "user_id": user, "data": RECEIPT if data is None else data}
    return client.post("/api/notifications/trigger", json=body,
                       headers={**(headers or ADMIN), "Idempotency-Key": key})  # fmt: skip


def put_prefs(client: TestClient, user: str, **prefs) -> dict:  # noqa: ANN003
    resp = client.put("/api/notifications/preferences", json=prefs, headers=auth(user))
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_admin_trigger_is_idempotent_and_validated(client, smtp) -> None:  # noqa: F811
    put_prefs(client, "u1", email="u1@example.com")
    assert trigger(client, "k0", "u1", headers=auth("u1")).status_code == 403
    no_key = client.post("/api/notifications/trigger", headers=ADMIN,
                         json={"workflow": "payment_receipt", "user_id": "u1"})  # fmt: skip
    assert no_key.status_code == 422 and "Idempotency-Key" in no_key.json()["detail"]
    bad = trigger(client, "k-bad", "u1", data={"order_id": "o-1"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert trigger(client, "k-x", "u1", workflow="nope").status_code == 404

    first = trigger(client, "k1", "u1")
    assert first.status_code == 202, first.text
    again = trigger(client, "k1", "u1")
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = trigger(client, "k1", "u1", data={**RECEIPT, "amount_minor": 1})
    assert other.status_code == 422
    assert [m["Subject"] for m in smtp.inbox.messages] == ["Receipt for order o-9: £42.00"]

    mine = client.get("/api/notifications", headers=auth("u1")).json()["items"]
    assert len(mine) == 1 and mine[0]["workflow"] == "payment_receipt"
    assert {d["channel"]: d["status"] for d in mine[0]["deliveries"]}["email"] == "sent"
    assert mine[0]["deliveries"][0]["body"]
    assert client.get("/api/notifications?user_id=u1", headers=auth("u2")).status_code == 403
    assert client.get("/api/notifications?user_id=u2", headers=auth("u2")).json() == {"items": []}
    assert len(client.get("/api/notifications?user_id=u1", headers=ADMIN).json()["items"]) == 1

    stats = client.get("/api/notifications/stats", headers=ADMIN).json()["items"]
    email = next(s for s in stats if s["workflow"] == "payment_receipt" and s["channel"] == "email")
    assert (email["sent"], email["total"], email["attempts"]) == (1, 1, 1)
    assert client.get("/api/notifications/stats", headers=auth("u1")).status_code == 403


def test_preferences_roundtrip_and_bad_input(client) -> None:
    got = client.get("/api/notifications/preferences", headers=auth("u3"))
    assert got.json()["timezone"] == "UTC" and got.json()["channels"] == {}
    assert client.get("/api/notifications/preferences").status_code == 401
    night = {"start": "25:00", "end": "07:00"}
    for bad in ({"timezone": "Mars/Olympus"}, {"email": "nope"}, {"channels": {"fax": True}},
                {"quiet_hours": night}, {"phone": "12345"}):  # fmt: skip
        resp = client.put("/api/notifications/preferences", json=bad, headers=auth("u3"))
        assert resp.status_code == 422 and resp.json()["status"] == 422, bad
    prefs = {"email": "c@example.com", "phone": "+14155550100", "timezone": "Europe/Paris",
             "quiet_hours": {"start": "22:00", "end": "07:00"}, "channels": {"sms": False},
             "categories": {"marketing": False}, "marketing_daily_cap": 3}  # fmt: skip
    put_prefs(client, "u3", **prefs)
    assert client.get("/api/notifications/preferences", headers=auth("u3")).json() == {
        **prefs, "push_token": None}  # fmt: skip


def test_templates_crud_preview_and_injection(client) -> None:
    base = "/api/notifications/templates/payment_receipt/email"
    listed = client.get("/api/notifications/templates", headers=ADMIN).json()["items"]
    assert {(t["key"], t["channel"]) for t in listed} >= {("payment_receipt", "email")}
    assert client.get(base, headers=auth("u1")).status_code == 403

    new = {"subject": "Paid {{ amount_minor | money(currency) }}", "text": "Order {{ order_id }}",
           "html": "<p>{{ order_id }}</p>"}  # fmt: skip
    saved = client.post(base, json=new, headers=ADMIN)
    assert saved.status_code == 201 and saved.json()["version"] == 2
    versions = client.get(base, headers=ADMIN).json()["versions"]
    assert [v["version"] for v in versions] == [2, 1]

    preview = client.post("/api/notifications/templates/preview", headers=ADMIN,
                          json={**new, "channel": "email", "key": "payment_receipt",
                                "data": {"order_id": "<script>"}})  # fmt: skip
    assert preview.status_code == 200
    assert preview.json() == {"subject": "Paid $125.00", "text": "Order <script>",
                              "html": "<p>&lt;script&gt;</p>"}  # fmt: skip

    for evil in ("{{ ''.__class__ }}", "{{ order_id.__class__.__mro__[1].__subclasses__() }}",
                 "{{ lipsum.__globals__ }}", "{{ x|attr('__class__') }}"):  # fmt: skip
        for url, body in ((base, {**new, "text": evil}),
                          ("/api/notifications/templates/preview",
                           {**new, "text": evil, "channel": "email"})):  # fmt: skip
            resp = client.post(url, json=body, headers=ADMIN)
            assert resp.status_code == 422, (evil, resp.text)
            assert "not allowed" in resp.json()["detail"]
    assert [v["version"] for v in client.get(base, headers=ADMIN).json()["versions"]] == [2, 1]
    bad_syntax = client.post(base, json={**new, "text": "{% for %}"}, headers=ADMIN)
    assert bad_syntax.status_code == 422

    assert client.delete(f"{base}/versions/2", headers=ADMIN).status_code == 409
    activated = client.post(f"{base}/versions/1/activate", headers=ADMIN)
    assert activated.status_code == 200 and activated.json()["version"] == 1
    assert client.delete(f"{base}/versions/2", headers=ADMIN).status_code == 204
    assert client.delete(f"{base}/versions/7", headers=ADMIN).status_code == 404


def test_websocket_receives_own_messages_only(client) -> None:
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect("/ws/notifications?token=bad") as ws,
    ):
        ws.receive_json()
    token_a, token_b = mint_token("wa"), mint_token("wb")
    with (
        client.websocket_connect(f"/ws/notifications?token={token_a}") as ws_a,
        client.websocket_connect("/ws/notifications", subprotocols=["bearer", token_b]) as ws_b,
    ):
        assert ws_a.receive_json() == {"type": "ready", "user_id": "wa"}
        assert ws_b.receive_json() == {"type": "ready", "user_id": "wb"}
        assert trigger(client, "ws-a", "wa").status_code == 202
        assert trigger(client, "ws-b", "wb", data={**RECEIPT, "order_id": "o-b"}).status_code == 202
        got_a, got_b = ws_a.receive_json(), ws_b.receive_json()
    assert got_a["type"] == "notification" and "o-9" in got_a["text"]
    assert got_b["text"] == "We received £42.00 for order o-b."  # not wa's message
    items = client.get("/api/notifications", headers=auth("wa")).json()["items"]
    in_app = next(d for d in items[0]["deliveries"] if d["channel"] == "in_app")
    assert in_app["status"] == "delivered"


def numsub(redis_url: str, *users: str) -> list[int]:
    """Pub/sub connections subscribed to each user's channel (one per worker holding a socket)."""
    import redis

    from shopflow.online_store import keys

    with redis.Redis.from_url(redis_url) as r:
        return [n for _, n in r.pubsub_numsub(*(keys.notification_channel(u) for u in users))]


def wait_for(check, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + 10
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_websocket_fans_out_across_workers_on_one_subscription_each(notify_settings) -> None:  # noqa: F811
    from serving.app import create_app

    token_a, token_b = mint_token("fa"), mint_token("fb")
    url = f"/ws/notifications?token={token_a}"
    with TestClient(create_app()) as one, TestClient(create_app()) as two:
        with (
            one.websocket_connect(url) as a1,
            one.websocket_connect(url) as a2,
            two.websocket_connect(url) as a3,
            two.websocket_connect(f"/ws/notifications?token={token_b}") as b,
        ):
            for ws in (a1, a2, a3, b):
                assert ws.receive_json()["type"] == "ready"
            # one subscription per worker and user, not one Redis connection per socket
            assert numsub(notify_settings.redis_url, "fa", "fb") == [2, 1]

            assert trigger(two, "fan-a", "fa").status_code == 202
            got = [ws.receive_json() for ws in (a1, a2, a3)]
            assert (
                trigger(one, "fan-b", "fb", data={**RECEIPT, "order_id": "o-fb"}).status_code == 202
            )
            assert b.receive_json()["text"] == "We received £42.00 for order o-fb."  # not fa's
        assert {g["delivery_id"] for g in got} == {got[0]["delivery_id"]}
        assert "o-9" in got[0]["text"]
        wait_for(lambda: numsub(notify_settings.redis_url, "fa", "fb") == [0, 0],
                 "the last socket's close unsubscribes")  # fmt: skip
        items = one.get("/api/notifications", headers=auth("fa")).json()["items"]
        in_app = next(d for d in items[0]["deliveries"] if d["channel"] == "in_app")
        assert in_app["status"] == "delivered"
