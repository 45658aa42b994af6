"""Security headers and CORS from one place (``serving.security``): every answer carries them,
errors and 429s included; credentialed answers are not cached; the CORS allow-list comes from
settings; and the Swagger UI at /docs still renders in headless Chromium under its policy."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import sync_playwright
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commerce.auth import mint_token
from serving.app import create_app
from serving.security.cors import CORS
from serving.security.headers import API_CSP, SecurityHeadersMiddleware, page_csp
from shopflow.config import Settings, get_settings
from shopflow.embedded import free_port
from tests.serve_process import serving, wait_healthy

Factory = Callable[..., TestClient]
ORIGIN = "https://shop.example.com"
CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = "/tmp/shopflow-docs.png"


@pytest.fixture
def make_client(
    shopflow_home: Settings,
    redis_server: str,
    redis_client: object,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Factory]:
    opened: list[TestClient] = []

    def make(**env: str) -> TestClient:
        monkeypatch.setenv("REDIS_URL", redis_server)
        monkeypatch.setenv("SHOPFLOW_CORS_ORIGINS", json.dumps([ORIGIN]))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        client = TestClient(create_app())
        opened.append(client.__enter__())
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)
    get_settings.cache_clear()


def assert_guarded(headers: object) -> None:
    assert headers["X-Content-Type-Options"] == "nosniff"  # type: ignore[index]
    assert headers["X-Frame-Options"] == "DENY"  # type: ignore[index]
    assert headers["Referrer-Policy"] == "no-referrer"  # type: ignore[index]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]  # type: ignore[index]


def test_every_answer_carries_the_headers(make_client: Factory) -> None:
    client = make_client()
    for response in (
        client.get("/openapi.json"),
        client.get("/no/such/path"),
        client.get("/recommendations/u1"),  # the fast lane: 503, nothing published
        client.post("/api/wishlists", json={}),  # 401 problem details
    ):
        assert_guarded(response.headers)
        assert response.headers["Content-Security-Policy"] == API_CSP
        assert "Strict-Transport-Security" not in response.headers  # not in development


def test_429_answers_carry_headers_and_cors(make_client: Factory) -> None:
    client = make_client(SHOPFLOW_RATE_LIMITS='{"read": "1/minute"}')
    client.get("/openapi.json")
    refused = client.get("/openapi.json", headers={"Origin": ORIGIN})
    assert refused.status_code == 429
    assert_guarded(refused.headers)
    assert refused.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "retry-after" in refused.headers["Access-Control-Expose-Headers"].lower()


def test_hsts_in_production(make_client: Factory) -> None:
    client = make_client(SHOPFLOW_HSTS_MAX_AGE_S="31536000")
    hsts = client.get("/openapi.json").headers["Strict-Transport-Security"]
    assert hsts == "max-age=31536000; includeSubDomains"


def test_credentialed_answers_are_not_stored(make_client: Factory) -> None:
    client = make_client()
    token = {"Authorization": f"Bearer {mint_token('alice')}"}
    assert client.get("/openapi.json", headers=token).headers["Cache-Control"] == "no-store"
    assert (
        client.get("/api/wishlists", headers={"Authorization": "Bearer bad"}).headers[
            "Cache-Control"
        ]
        == "no-store"
    )
    assert "Cache-Control" not in client.get("/openapi.json").headers


def test_cors_allows_only_listed_origins(make_client: Factory) -> None:
    client = make_client()
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip
    allowed = client.options("/api/wishlists", headers={"Origin": ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "authorization" in allowed.headers["Access-Control-Allow-Headers"].lower()
    other = client.options("/api/wishlists", headers={"Origin": "https://evil.test", **preflight})
    assert other.status_code == 400
    assert "Access-Control-Allow-Origin" not in other.headers
    simple = client.get("/openapi.json", headers={"Origin": "https://evil.test"})
    assert simple.status_code == 200 and "Access-Control-Allow-Origin" not in simple.headers


def test_answers_vary_on_origin_with_or_without_one(make_client: Factory) -> None:
    """A shared cache must not hand a response made without CORS headers to a browser page
    of a listed origin (or the other way round): every answer varies on Origin, once."""
    client = make_client()
    for headers in ({}, {"Origin": ORIGIN}, {"Origin": "https://evil.test"}):
        response = client.get("/openapi.json", headers=headers)
        varies = [v.strip().lower() for v in response.headers.get("vary", "").split(",")]
        assert varies.count("origin") == 1, (headers, response.headers.get("vary"))
    assert client.get("/nope").headers["vary"].lower() == "origin"  # a 404 too


Headers = list[tuple[bytes, bytes]]


def answer_through(middleware: ASGIApp, request: Headers) -> list[Message]:
    """The messages ``middleware`` sends for a GET with ``request``'s headers (its app being
    the one it wraps)."""
    sent: list[Message] = []
    scope = {"type": "http", "method": "GET", "path": "/", "headers": request}

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    async def call() -> None:
        await middleware(scope, receive, send)

    asyncio.run(call())
    return sent


def json_app(headers: Headers) -> ASGIApp:
    """An app answering ``{}`` with ``headers``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


@pytest.mark.parametrize("own_vary", [None, b"Accept-Encoding"])
@pytest.mark.parametrize("origin", [None, ORIGIN, "https://evil.test"])
def test_cors_answers_as_starlettes_middleware_does(
    own_vary: bytes | None, origin: str | None
) -> None:
    """``serving.security.cors.CORS`` skips parsing the headers of a request without Origin;
    its answer's headers are Starlette's, whether or not the app set a Vary of its own."""
    app = json_app(
        [(b"content-type", b"application/json"), *([(b"vary", own_vary)] if own_vary else [])]
    )
    request = [(b"host", b"api"), *([(b"origin", origin.encode())] if origin else [])]
    ours = answer_through(CORS(app, allow_origins=[ORIGIN]), request)
    starlettes = answer_through(CORSMiddleware(app, allow_origins=[ORIGIN]), request)
    assert [dict(m) for m in ours] == [dict(m) for m in starlettes]
    assert sum(name == b"vary" for name, _ in ours[0]["headers"]) == 1


@pytest.mark.parametrize("credential", [None, (b"authorization", b"Bearer x")])
def test_headers_the_app_set_are_kept_but_cache_control_of_credentialed_ones(
    credential: tuple[bytes, bytes] | None,
) -> None:
    own = [(b"x-frame-options", b"SAMEORIGIN"), (b"content-security-policy", b"default-src 'self'"),
           (b"cache-control", b"max-age=60"), (b"content-type", b"application/json")]  # fmt: skip
    app = json_app(own)
    guarded = SecurityHeadersMiddleware(app, hsts_max_age_s=60)
    sent = answer_through(guarded, [credential] if credential else [])
    headers = MutableHeaders(raw=sent[0]["headers"])
    assert headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert headers.getlist("Content-Security-Policy") == ["default-src 'self'"]
    assert headers.getlist("Cache-Control") == ["no-store" if credential else "max-age=60"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Strict-Transport-Security"] == "max-age=60; includeSubDomains"
    assert sent[1]["body"] == b"{}"


def test_no_origin_is_allowed_by_default(make_client: Factory) -> None:
    client = make_client(SHOPFLOW_CORS_ORIGINS="[]")
    response = client.get("/openapi.json", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_the_docs_page_allows_its_inline_script_by_hash(make_client: Factory) -> None:
    page = make_client().get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert_guarded(page.headers)
    csp = page.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp
    assert csp == page_csp(page.content)


def test_page_csp_hashes_inline_scripts_only() -> None:
    html = b'<script src="/a.js"></script><script>run()</script>'
    digest = base64.b64encode(hashlib.sha256(b"run()").digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in page_csp(html)
    assert "script-src 'self';" in page_csp(b"<p>no scripts</p>")


def test_docs_render_in_chromium_under_the_policy(shopflow_home: Settings) -> None:
    port = free_port()
    with serving(shopflow_home, "--port", str(port)) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(proc, f"{base}/openapi.json")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page()
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            response = page.goto(f"{base}/docs")
            assert response is not None
            policy = response.headers["content-security-policy"]
            page.locator(".opblock").first.wait_for(timeout=60_000)
            operations = page.locator(".opblock").count()
            page.locator(".opblock-summary").first.click()  # expand one: its schema renders
            page.locator(".opblock-body").first.wait_for(timeout=30_000)
            page.screenshot(path=SCREENSHOT, full_page=False)
            browser.close()
    assert "'sha256-" in policy
    assert operations > 20  # the UI fetched /openapi.json and drew every operation
    assert [line for line in console if "Content Security Policy" in line] == []
