"""Email through the SendGrid v3 Mail Send API (``POST /v3/mail/send``).

The delivery id travels as a ``custom_args`` value, so event webhooks name the delivery;
SendGrid answers 202 with the message id in the ``X-Message-Id`` header.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

import httpx

from commerce.notifications.channels.base import ChannelError, OutgoingMessage, SendResult
from commerce.notifications.channels.http import post


def _address(value: str) -> dict[str, str]:
    name, email = parseaddr(value)
    return {"email": email, "name": name} if name else {"email": email}


class SendGridEmail:
    name = "email"
    provider = "sendgrid"

    def __init__(self, api_key: str, sender: str, base_url: str, timeout: float = 10.0) -> None:
        self.sender = sender
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )

    def payload(self, message: OutgoingMessage) -> dict[str, Any]:
        content = [{"type": "text/plain", "value": message.text}]
        if message.html:
            content.append({"type": "text/html", "value": message.html})
        return {
            "personalizations": [{"to": [{"email": message.to}]}],
            "from": _address(self.sender),
            "subject": message.subject or "",
            "content": content,
            "custom_args": {"delivery_id": message.delivery_id},
        }

    def send(self, message: OutgoingMessage) -> SendResult:
        if not message.to:
            raise ChannelError("no email address", retryable=False)
        response = post(self.client, self.provider, "/v3/mail/send", json=self.payload(message))
        message_id = response.headers.get("X-Message-Id")
        if not message_id:
            raise ChannelError("sendgrid: 2xx without X-Message-Id", retryable=False)
        return SendResult(self.provider, message_id)

    def close(self) -> None:
        self.client.close()
