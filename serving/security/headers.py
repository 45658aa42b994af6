"""Security headers on every response, set in one place.

JSON answers get a Content-Security-Policy that allows nothing (``default-src 'none'``). An
HTML page (the Swagger UI at ``/docs``) gets one that allows the API's own scripts, styles and
images, plus its inline scripts by their SHA-256 hashes: nothing inline runs unless the page
itself carries it (no ``'unsafe-inline'``).
Responses to requests carrying a credential get ``Cache-Control: no-store``; HSTS is sent when
``Settings.hsts_max_age_s`` is set (production, behind TLS)."""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.security.identity import CREDENTIAL_HEADERS

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
PAGE_CSP = (
    "default-src 'self'; script-src 'self' {hashes}; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'"
)
_API_CSP = API_CSP.encode()
STATIC = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def page_csp(html: bytes) -> str:
    """The policy of an HTML page: its inline scripts are allowed by hash, nothing else."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    )
    return PAGE_CSP.format(hashes=hashes).replace("'self' ;", "'self';")


class SecurityHeadersMiddleware:
    """ASGI middleware adding the headers above (a header the app set itself is kept, except
    Cache-Control on credentialed requests, which is always ``no-store``)."""

    def __init__(self, app: ASGIApp, hsts_max_age_s: int = 0) -> None:
        self.app = app
        static = dict(STATIC)
        if hsts_max_age_s:
            static["Strict-Transport-Security"] = f"max-age={hsts_max_age_s}; includeSubDomains"
        self.static = [(name.lower().encode(), value.encode()) for name, value in static.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        credentialed = any(name in CREDENTIAL_HEADERS for name, _ in scope["headers"])
        start: Message | None = None
        html: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if self._add(message, credentialed):  # an HTML page: the policy hashes it
                    start = message
                    return
                await send(message)
            elif start is not None and message["type"] == "http.response.body":
                html.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(html)
                MutableHeaders(scope=start).setdefault("Content-Security-Policy", page_csp(body))
                await send(start)
                await send({"type": "http.response.body", "body": body})
            else:
                await send(message)

        await self.app(scope, receive, send_with_headers)

    def _add(self, start: Message, credentialed: bool) -> bool:
        """Add the headers the answer lacks (one pass over its raw headers); True for an HTML
        page, whose policy waits for its body."""
        raw: list[tuple[bytes, bytes]] = list(start.get("headers", ()))
        if credentialed:
            raw = [(name, value) for name, value in raw if name.lower() != b"cache-control"]
            raw.append((b"cache-control", b"no-store"))
        present = {name.lower(): value for name, value in reversed(raw)}  # the first counts
        raw += [header for header in self.static if header[0] not in present]
        start["headers"] = raw
        if present.get(b"content-type", b"").startswith(b"text/html"):
            return True
        if b"content-security-policy" not in present:
            raw.append((b"content-security-policy", _API_CSP))
        return False
