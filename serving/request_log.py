"""One log line per HTTP request, and its request id.

The id comes from the client's ``X-Request-ID`` (when it is a sane token) or is generated; it
is echoed in the response's ``X-Request-ID``, bound to every log line written while the
request runs and set on the request's trace span. The line carries the method, the route
template (``/recommendations/{user_id}``, never the raw path), the status and the time.
A pure ASGI wrapper, outermost, so 404, 405, 429 and fast-lane answers are logged too.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopflow import ids, logs

log = logging.getLogger("shopflow.request")
HEADER = b"x-request-id"
#: What an incoming id may look like (anything else is replaced: ids end up in log lines).
_SANE = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")


def incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == HEADER:
            return value.decode("ascii") if _SANE.fullmatch(value) else None
    return None


class RequestLog:
    """Request id in and out; with ``log_requests``, one ``request`` line per request."""

    def __init__(self, app: ASGIApp, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_id(scope) or ids.uuid4_hex()
        echo = (HEADER, request_id.encode())
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), echo]}
            await send(message)

        bound = logs.bind(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.reset(**bound)
            if self.log_requests:
                route = scope.get("route")
                fields = {
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": getattr(route, "path", None) or "unmatched",
                    "status": status,
                    "ms": round((time.perf_counter() - start) * 1000, 2),
                }
                if not logs.write_json(log, "request", fields):
                    log.info("request", extra=fields)
