"""The status an ASGI app sent, for middleware that acts on it once the app has answered."""

from __future__ import annotations

from starlette.types import Message, Send

UNANSWERED = 500
"""What the server error handler outside sends when the app raises before answering."""


class SentStatus:
    """A ``send`` that passes every message on and keeps the response's status."""

    def __init__(self, send: Send, status: int = UNANSWERED) -> None:
        self.send = send
        self.status = status

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self.send(message)
