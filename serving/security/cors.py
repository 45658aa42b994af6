"""Starlette's CORS middleware with a cheaper path for requests without an ``Origin`` header
(every request a server-side client makes): the answer only gets ``Vary: Origin``, as
Starlette gives it, without parsing the request's headers into a ``Headers`` object."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Message, Receive, Scope, Send

_ORIGIN = b"origin"
_VARY = b"vary"


class CORS(CORSMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(name == _ORIGIN for name, _ in scope["headers"]):
            await super().__call__(scope, receive, send)
            return

        async def send_varying(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = message.get("headers", ())
                if any(name.lower() == _VARY for name, _ in raw):
                    await super(CORS, self).send(message, send, Headers(scope=scope))  # joins
                    return
                message["headers"] = [*raw, (_VARY, b"Origin")]
            await send(message)

        await self.app(scope, receive, send_varying)
