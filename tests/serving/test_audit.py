"""The audit log on SQLite and PostgreSQL: admin and service requests are recorded with who,
what, outcome and where; customers' are not; the table rejects UPDATE and DELETE; the admin
endpoint filters and pages."""

from __future__ import annotations

import asyncio
import getpass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from commerce import api_keys, audit
from commerce.auth import Role, mint_token
from commerce.db import get_engine
from commerce.errors import Invalid
from serving.security.audit import AuditWriter


def bearer(user_id: str, *roles: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(user_id, list(roles) or None)}"}


ADMIN = bearer("root", Role.admin)
SERVICE = bearer("relay-bot", Role.service)


def entries(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/admin/audit", params=params, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


def test_admin_and_service_requests_are_recorded(api_client: TestClient) -> None:
    agent = {"User-Agent": "ops-console/1.0"}
    product = {"title": "Kettle", "category": "kitchen", "price_minor": 2500, "currency": "EUR"}
    put = api_client.put("/api/products/p-1", json=product, headers={**ADMIN, **agent})
    assert put.status_code in (200, 201), put.text
    assert api_client.get("/api/notifications/stats", headers=SERVICE).status_code == 403
    api_client.get("/api/wishlists", headers=bearer("customer-1"))  # a customer: not audited

    items = entries(api_client)["items"]
    assert [e["actor_id"] for e in items] == ["relay-bot", "root"]  # newest first
    service, admin = items
    assert service["actor_kind"] == "service" and service["status"] == 403
    assert service["action"] == "GET /api/notifications/stats"
    assert admin["actor_kind"] == "admin" and admin["status"] == put.status_code
    assert admin["action"] == "PUT /api/products/{product_id}"
    assert admin["target_ids"] == {"product_id": "p-1"}
    assert admin["client_ip"] == "testclient" and admin["user_agent"] == "ops-console/1.0"
    assert datetime.fromisoformat(admin["at"]) <= datetime.now(UTC)


def test_secret_key_requests_are_recorded_as_the_key(api_client: TestClient) -> None:
    """A secret key's writes, refusals and personal-data reads are recorded; its routine
    reads (recommendations at storefront rates) are not; a publishable key's never."""
    api_keys.CACHE.forget()
    secret_info, secret = api_keys.create("secret", "storefront backend")
    public_info, publishable = api_keys.create("publishable", "storefront")
    backend = {"Authorization": f"Bearer {secret}"}
    api_client.get("/recommendations/u-9", headers=backend)  # the fast lane: routine
    api_client.get("/analytics/realtime", headers=backend)  # routine
    api_client.get("/api/notifications/stats", headers=backend)  # refused: admins only
    api_client.get("/api/users/u-9/export", headers=backend)  # personal data
    api_client.post("/events", json=[], headers=backend)  # a write
    api_client.get("/recommendations/anon-1", headers={"Authorization": f"Bearer {publishable}"})

    items = entries(api_client, actor=f"key:{secret_info.id}")["items"]
    assert [e["action"] for e in items][::-1] == [
        "GET /api/notifications/stats",
        "GET /api/users/{user_id}/export",
        "POST /events",
    ]
    assert items[-1]["status"] == 403
    assert {e["actor_kind"] for e in items} == {"service"}
    assert items[1]["target_ids"] == {"user_id": "u-9"}
    assert not entries(api_client, actor=f"key:{public_info.id}")["items"]  # a visitor's key


def test_the_endpoint_filters_and_pages(api_client: TestClient) -> None:
    for n in range(5):
        audit.record(actor_id=f"op-{n % 2}", actor_kind="cli", action=f"cli:keys {n}", status=0)
    assert {e["actor_id"] for e in entries(api_client, actor="op-1")["items"]} == {"op-1"}
    assert len(entries(api_client, action="cli:keys 3")["items"]) == 1
    assert len(entries(api_client, action="cli:keys*")["items"]) == 5

    first = entries(api_client, action="cli:*", limit=2)
    second = entries(api_client, action="cli:*", limit=2, cursor=first["next_cursor"])
    third = entries(api_client, action="cli:*", limit=2, cursor=second["next_cursor"])
    seen = [e["action"] for page in (first, second, third) for e in page["items"]]
    assert seen == [f"cli:keys {n}" for n in (4, 3, 2, 1, 0)]
    assert third["next_cursor"] is None

    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert entries(api_client, since=future)["items"] == []
    assert len(entries(api_client, until=future, action="cli:*")["items"]) == 5


def test_the_endpoint_is_for_admins_and_checks_its_input(api_client: TestClient) -> None:
    assert api_client.get("/api/admin/audit").status_code == 401
    assert api_client.get("/api/admin/audit", headers=SERVICE).status_code == 403
    naive = api_client.get("/api/admin/audit", params={"since": "2026-01-01T00:00"}, headers=ADMIN)
    assert naive.status_code == 422
    assert naive.headers["content-type"] == "application/problem+json"
    bad = api_client.get("/api/admin/audit", params={"cursor": "abc"}, headers=ADMIN)
    assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
    assert api_client.get("/api/admin/audit", params={"limit": 0}, headers=ADMIN).status_code == 422


def test_the_log_is_append_only_in_the_database(database: str) -> None:
    audit.record(actor_id="root", actor_kind="cli", action="cli:token", status=0)
    engine = get_engine(database)
    for statement in ("UPDATE audit_log SET status = 1", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as con:
            con.execute(sa.text(statement))
    with engine.connect() as con:
        assert con.execute(sa.text("SELECT status FROM audit_log")).scalars().all() == [0]


def test_cli_commands_are_recorded_with_the_operator(api_client: TestClient) -> None:
    audit.record_cli("keys revoke", 0, {"key_id": "k-1"})
    [entry] = entries(api_client, action="cli:*")["items"]
    assert entry["actor_kind"] == "cli" and entry["action"] == "cli:keys revoke"
    assert entry["actor_id"] == getpass.getuser() and entry["target_ids"] == {"key_id": "k-1"}
    assert entry["status"] == 0


def test_record_refuses_an_unknown_actor_kind(database: str) -> None:
    with pytest.raises(Invalid, match="actor_kind"):
        audit.record(actor_id="x", actor_kind="robot", action="cli:x", status=0)


def _count(url: str, action: str) -> int:
    with get_engine(url).connect() as conn:
        query = sa.text("SELECT count(*) FROM audit_log WHERE action = :a")
        return int(conn.execute(query, {"a": action}).scalar_one())


def test_concurrent_entries_are_each_committed_in_shared_transactions(database: str) -> None:
    commits: list[int] = []
    sa.event.listen(get_engine(database), "commit", lambda _conn: commits.append(1))

    async def burst() -> None:
        writer = AuditWriter(database)
        writer.start()
        entry = {"actor_id": "relay-bot", "actor_kind": "service", "status": 202}
        await asyncio.gather(
            *(writer.write({**entry, "action": "POST /events", "target_ids": {"n": n}})
              for n in range(300))
        )  # fmt: skip
        await writer.aclose()

    asyncio.run(burst())
    assert _count(database, "POST /events") == 300  # each returned only once committed
    assert len(commits) < 300  # and they shared transactions


def test_a_bad_entry_fails_alone_and_queued_entries_survive_close(database: str) -> None:
    async def mixed() -> list[BaseException | None]:
        writer = AuditWriter(database)
        writer.start()
        good = {"actor_id": "root", "actor_kind": "admin", "status": 200, "action": "GET /x"}
        bad = {**good, "actor_kind": "robot"}
        waits = [asyncio.ensure_future(writer.write(e)) for e in (good, bad, good, good)]
        await asyncio.sleep(0)  # all four queued
        await writer.aclose()  # closing commits what is queued
        return await asyncio.gather(*waits, return_exceptions=True)

    outcomes = asyncio.run(mixed())
    assert [type(o).__name__ for o in outcomes] == ["NoneType", "Invalid", "NoneType", "NoneType"]
    assert _count(database, "GET /x") == 3


def test_audit_writes_on_sqlite_take_their_turn_in_the_writer_queue(shopflow_home) -> None:
    """Another process's audit write waits while this one holds SQLite's writer queue (and
    so never busy-polls the database), then lands once it is released."""
    import os
    import subprocess
    import sys
    import time

    from commerce.db import migrate, reset_engines
    from commerce.db.writer import sqlite_writer

    reset_engines()
    url = str(get_engine().url)
    assert url.startswith("sqlite")
    migrate.upgrade(url)
    child = (
        "from commerce import audit\n"
        "print('writing', flush=True)\n"
        "audit.record(actor_id='ops', actor_kind='cli', action='cli:queued', status=0)\n"
    )

    def queued() -> int:
        with get_engine().connect() as con:
            query = sa.text("SELECT count(*) FROM audit_log WHERE action = 'cli:queued'")
            return int(con.scalar(query) or 0)

    with sqlite_writer():
        proc = subprocess.Popen(
            [sys.executable, "-c", child], stdout=subprocess.PIPE, text=True, env=os.environ
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
        time.sleep(0.5)
        assert queued() == 0  # still waiting for its turn
    assert proc.wait(timeout=60) == 0
    assert queued() == 1
    reset_engines()
