"""Request bodies capped while they stream in: a 413 problem before a byte too many is read.

A declared ``Content-Length`` over the cap is refused before the app runs; a chunked body is
counted as it arrives and refused at the first chunk past the cap, so neither is ever spooled
to disk whole. Uploads (``UPLOAD_PATHS``) get ``Settings.max_upload_body_bytes``, every other
request ``Settings.max_json_body_bytes``."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import problem
from shopflow.config import Settings, get_settings

#: Paths whose bodies are files (multipart), allowed the larger upload cap.
UPLOAD_PATHS = frozenset({"/api/media"})


class BodyTooLarge(HTTPException):
    """An ``HTTPException``, so FastAPI's body reader re-raises it and the app's handler
    answers the problem; the middleware answers it if it escapes before a response."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")
        self.limit = limit


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings | None = None) -> None:
        self.app = app
        settings = settings or get_settings()
        self.json_limit = settings.max_json_body_bytes
        self.upload_limit = settings.max_upload_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if scope["path"] in UPLOAD_PATHS else self.json_limit
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(scope, receive, send, BodyTooLarge(limit))
            return

        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await _refuse(scope, receive, send, exc)


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: BodyTooLarge) -> None:
    response = problem(
        413,
        "Content too large",
        str(exc.detail),
        scope["path"],
        headers={"Connection": "close"},
        limit_bytes=exc.limit,
    )
    await response(scope, receive, send)
