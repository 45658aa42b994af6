"""``/docs`` renders in headless Chromium (Debian's package, driven by Playwright): Swagger UI
reads the OpenAPI 3.1 document, lists every operation and shows an example body and the
problem-details schema; nothing is fetched from outside."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from playwright.sync_api import expect, sync_playwright

from serving.app import create_app
from shopflow.embedded import free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


@pytest.fixture
def api_url(shopflow_home, redis_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The whole app under uvicorn on a free port (its lifespan on the session Redis)."""
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
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def test_docs_render_every_operation_in_chromium(api_url: str) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        outside: list[str] = []
        page.on(
            "request",
            lambda r: outside.append(r.url) if not r.url.startswith((api_url, "data:")) else None,
        )
        page.goto(f"{api_url}/docs")
        page.locator(".opblock").first.wait_for(timeout=60_000)
        spec = page.evaluate("() => fetch('/openapi.json').then(r => r.json())")
        listed = page.locator(".opblock").evaluate_all(
            """els => els.map(e => [
                e.querySelector('.opblock-summary-method').textContent.trim().toLowerCase(),
                e.querySelector('.opblock-summary-path').dataset.path])"""
        )
        text = page.locator("body").inner_text()

        order = page.locator("#operations-orders-place_order_api_orders_post")
        order.locator(".opblock-summary").click()
        expect(order.locator(".opblock-section-request-body")).to_contain_text(
            "i000011", timeout=30_000
        )  # the example body
        expect(order.locator(".responses-wrapper")).to_contain_text(
            "application/problem+json", timeout=30_000
        )
        body = order.inner_text()
        page.locator("section.models").scroll_into_view_if_needed()
        models = page.locator("section.models").inner_text()
        browser.close()

    expected = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert len(expected) > 60
    assert {tuple(op) for op in listed} == expected
    assert "Unable to render" not in text and "Errors" not in text.split("\n")[:20]
    assert "i000011" in body and "Location" in body and "application/problem+json" in body
    assert "Problem" in models and "OrderOut" in models
    assert outside == []
