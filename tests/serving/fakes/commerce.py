"""Test helpers for the commerce API: tokens, a product, an order, outbox reads."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from commerce.auth import mint_token
from commerce.db import session_scope
from commerce.db.models.core import OutboxEvent
from shopflow.embedded import _port_open, free_port


def auth(user: str, *roles: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(user, list(roles) or ["customer"])}


ADMIN = "admin-1"


def put_product(
    client: Any, pid: str = "p1", price: int = 1250, stock: int = 10, **kw: Any
) -> dict:
    body = {"title": f"Product {pid}", "category": "kitchen", "brand": "Acme",
            "price_minor": price, "currency": "USD", "stock": stock, **kw}  # fmt: skip
    resp = client.put(f"/api/products/{pid}", json=body, headers=auth(ADMIN, "admin"))
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


def place_order(client: Any, user: str, lines: list[tuple[str, int]]) -> dict:
    body = {"lines": [{"product_id": p, "quantity": q} for p, q in lines]}
    resp = client.post("/api/orders", json=body, headers=auth(user))
    assert resp.status_code == 201, resp.text
    return resp.json()


def payment_body(order: dict, token: str = "pm_card_visa", method: str = "CREDIT_CARD") -> dict:
    return {
        "order_id": order["id"],
        "amount_minor": order["total_minor"],
        "currency": order["currency"],
        "method": method,
        "payment_method": token,
        "billing_address": {"line1": "1 Main St", "city": "Springfield",
                            "postal_code": "12345", "country": "US"},
        "customer": {"name": "Ada Buyer", "email": "ada@example.com"},
    }  # fmt: skip


def outbox(event_type: str | None = None) -> list[dict[str, Any]]:
    with session_scope() as session:
        query = select(OutboxEvent).order_by(OutboxEvent.id)
        if event_type:
            query = query.where(OutboxEvent.event_type == event_type)
        return [json.loads(r.envelope_json) for r in session.scalars(query)]


# localstripe pickles its whole store to /tmp on every write (slow as the store grows, and
# shared between processes); the test peer keeps its store in memory only.
_LOCALSTRIPE = (
    "import localstripe.resources as r\n"
    "r.Store.dump_to_disk = lambda self: None\n"
    "from localstripe.server import start\n"
    "start()\n"
)


@pytest.fixture(scope="session")
def localstripe_url() -> Iterator[str]:
    """A real Stripe API peer (the localstripe package) on a free port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", _LOCALSTRIPE, "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not _port_open(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("localstripe did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def stripe_env(localstripe_url: str, database: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Card and Stripe payments go to Stripe (the localstripe peer). Request it before
    ``api_client``."""
    from shopflow.config import get_settings

    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_shopflow")
    monkeypatch.setenv("STRIPE_API_BASE", localstripe_url)
    get_settings.cache_clear()
    return localstripe_url
