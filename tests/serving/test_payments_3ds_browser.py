"""3-D Secure to the end: a payment that needs authentication points at Shopflow's own page;
headless Chromium (Debian's package, driven by Playwright) opens it and clicks approve, or
fail, and the payment completes, authorizes or fails. The app runs under uvicorn."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from playwright.sync_api import expect, sync_playwright

from serving.app import create_app
from shopflow.embedded import free_port
from tests.serving.fakes.commerce import auth, payment_body

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run"]


@pytest.fixture
def api(
    database: str, redis_server: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[httpx.Client]:
    """The whole app under uvicorn on a free port, over the ``database`` fixture."""
    from shopflow.config import get_settings

    monkeypatch.setenv("REDIS_URL", redis_server)
    get_settings.cache_clear()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client
    server.should_exit = True
    thread.join(30)


def _awaiting_3ds(api: httpx.Client, capture: str) -> dict:
    admin = auth("admin-1", "admin")
    product = {"title": "Mug", "category": "kitchen", "price_minor": 900, "currency": "USD",
               "stock": 5}  # fmt: skip
    api.put("/api/products/m1", json=product, headers=admin).raise_for_status()
    order = api.post("/api/orders", json={"lines": [{"product_id": "m1", "quantity": 1}]},
                     headers=auth("alice"))  # fmt: skip
    body = {**payment_body(order.json(), token="pm_card_authenticationRequired"),
            "capture": capture}  # fmt: skip
    pay = api.post("/api/payments", json=body, headers=auth("alice")).json()
    pending = api.post(f"/api/payments/{pay['id']}/confirm", headers=auth("alice")).json()
    assert pending["status"] == "PROCESSING", pending
    assert pending["next_action"]["type"] == "redirect_to_url"
    return pending


@pytest.mark.parametrize(
    "capture,button,expected",
    [("automatic", "#approve", "COMPLETED"), ("manual", "#approve", "AUTHORIZED"),
     ("automatic", "#fail", "FAILED")],
)  # fmt: skip
def test_chromium_clicks_through_3ds(api: httpx.Client, capture, button, expected) -> None:
    pending = _awaiting_3ds(api, capture)
    url = str(api.base_url).rstrip("/") + pending["next_action"]["redirect_to_url"]["url"]
    forged = url.split("?token=")[0] + "?token=" + "0" * 32
    assert api.get(forged).status_code == 404  # a guessed link shows nothing
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        page.goto(url)
        expect(page.locator("h1")).to_have_text("3-D Secure authentication")
        page.locator(button).click()
        expect(page.locator("#result")).to_have_text(f"Payment {expected}", timeout=30_000)
        browser.close()
    got = api.get(f"/api/payments/{pending['id']}", headers=auth("alice")).json()
    assert got["status"] == expected and got["next_action"] is None
    if expected == "FAILED":
        assert got["failure_reason"] == "authentication_failed"
    ledger = api.get(f"/api/payments/{pending['id']}/ledger", headers=auth("alice")).json()
    assert ledger[-1]["source"] == "3ds"
    # the page cannot settle it twice
    again = api.post(url.split("?")[0], data={"token": url.split("=")[-1], "result": "approve"})
    assert again.status_code == 409 and again.json()["current_status"] == expected
