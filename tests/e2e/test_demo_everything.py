"""``shopflow demo`` with every part running: a customer with a wishlist orders, an admin drops
a wishlisted price; the order confirmation and the price-drop digest arrive in the embedded
mail catcher (`shopflow mail`); Ctrl-C (SIGTERM) leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopflow import embedded
from shopflow.config import Settings
from tests.processes import processes_using

from .conftest import BIN, run_cli

pytestmark = pytest.mark.e2e
BUYER, EMAIL = "demo-buyer", "buyer@example.com"


def _wait_for_line(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = path.read_text()
        if text in out:
            return out
        assert proc.poll() is None, f"demo exited with {proc.returncode}:\n{out}"
        time.sleep(1)
    raise AssertionError(f"no {text!r} within {timeout:.0f}s:\n{path.read_text()}")


def _mail(env: dict[str, str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run_cli(["mail", "list", "--json"], env).splitlines()]


def _shop(base: str, env: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """As a customer: leave an email, wishlist a product, order it; as an admin: halve its
    price. Returns the order id and the product."""
    admin = {
        "Authorization": "Bearer "
        + run_cli(["token", "--user", "a1", "--role", "admin"], env).strip()
    }
    buyer = {"Authorization": "Bearer " + run_cli(["token", "--user", BUYER], env).strip()}
    products = httpx.get(f"{base}/api/products", params={"in_stock": True, "limit": 50}).json()
    product = max(products["items"], key=lambda p: p["price_minor"])
    pid = product["id"]
    put = httpx.put(f"{base}/api/notifications/preferences", json={"email": EMAIL}, headers=buyer)
    assert put.status_code == 200, put.text
    wishlist = httpx.post(f"{base}/api/wishlists", json={"name": "gifts"}, headers=buyer)
    assert wishlist.status_code == 201, wishlist.text
    added = httpx.post(
        f"{base}/api/wishlists/{wishlist.json()['id']}/items",
        json={"product_id": pid},
        headers=buyer,
    )
    assert added.status_code == 201, added.text
    order = httpx.post(
        f"{base}/api/orders", json={"lines": [{"product_id": pid, "quantity": 1}]}, headers=buyer
    )
    assert order.status_code == 201, order.text
    keep = ("title", "description", "category", "brand", "currency", "stock", "attributes")
    body = {k: product[k] for k in keep} | {"price_minor": product["price_minor"] // 2}
    body["stock"] = httpx.get(f"{base}/api/products/{pid}").json()["stock"]
    dropped = httpx.put(f"{base}/api/products/{pid}", json=body, headers=admin)
    assert dropped.status_code == 200, dropped.text
    return order.json()["id"], product


def test_demo_mails_an_order_and_a_price_drop_and_leaves_nothing(
    home_env: dict[str, str], tmp_path: Path
) -> None:
    home = Path(home_env["SHOPFLOW_HOME"])
    api_port, dagster_port = embedded.free_port(), embedded.free_port()
    args = ["demo", "--users", "300", "--days", "14",
            "--api-port", str(api_port), "--dagster-port", str(dagster_port)]  # fmt: skip
    log = tmp_path / "demo.out"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [str(BIN / "shopflow"), *args], env=home_env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        text = _wait_for_line(log, "Ctrl-C stops everything", demo, 1200)
        for part in ("stream-wishlist-alerts", "stream-notify", "relay", "mail", "what runs where"):
            assert part in text
        assert "materialized " in text and "full log: " in text

        order_id, product = _shop(f"http://127.0.0.1:{api_port}", home_env)
        deadline, subjects = time.monotonic() + 240, []
        while time.monotonic() < deadline:
            subjects = [m["subject"] for m in _mail(home_env) if m["to"] == EMAIL]
            if f"Order {order_id} confirmed" in subjects and any(
                "price drop" in s for s in subjects
            ):
                break
            time.sleep(2)
        assert f"Order {order_id} confirmed" in subjects, subjects
        n = next(m["n"] for m in _mail(home_env) if "price drop" in m["subject"])
        shown = run_cli(["mail", "show", str(n)], home_env)
        assert product["id"] in shown or product["title"] in shown  # named in the digest
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(timeout=120)
    assert demo.returncode == 0, log.read_text()[-3000:]
    assert not any(embedded.status(Settings(home=home)).values())
    assert processes_using(home) == []
    assert not embedded._port_open(api_port) and not embedded._port_open(dagster_port)
