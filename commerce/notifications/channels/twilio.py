"""SMS through the Twilio Messages API (``POST /2010-04-01/Accounts/{Sid}/Messages.json``,
HTTP Basic auth with the account SID and auth token, form-encoded To/From/Body)."""

from __future__ import annotations

import httpx

from commerce.notifications.channels.base import ChannelError, OutgoingMessage, SendResult
from commerce.notifications.channels.http import post


class TwilioSms:
    name = "sms"
    provider = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str,
        status_callback: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.account_sid, self.from_number = account_sid, from_number
        self.status_callback = status_callback
        self.client = httpx.Client(
            base_url=base_url.rstrip("/"), auth=(account_sid, auth_token), timeout=timeout
        )

    def send(self, message: OutgoingMessage) -> SendResult:
        if not message.to:
            raise ChannelError("no phone number", retryable=False)
        form = {"To": message.to, "From": self.from_number, "Body": message.text}
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        body = post(self.client, self.provider, path, data=form).json()
        if not body.get("sid"):
            raise ChannelError("twilio: answer without a message sid", retryable=False)
        return SendResult(self.provider, body["sid"])

    def close(self) -> None:
        self.client.close()
