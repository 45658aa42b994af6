"""The one interface every channel implements, and its errors."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("shopflow.notifications")


@dataclass(frozen=True)
class OutgoingMessage:
    """A rendered message for one recipient on one channel."""

    delivery_id: str
    user_id: str
    to: str | None  # email address, E.164 number, device token; None for in-app
    subject: str | None
    text: str
    html: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SendResult:
    provider: str
    provider_message_id: str
    delivered: bool = False  # the provider confirmed delivery already (in-app)


class ChannelError(Exception):
    """A send failed. ``retryable``: worth another attempt later (timeouts, 429, 5xx)."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class Channel(Protocol):
    name: str  # email | sms | push | in_app
    provider: str  # smtp, sendgrid, twilio, fcm, redis

    def send(self, message: OutgoingMessage) -> SendResult: ...

    def close(self) -> None: ...


def http_error(provider: str, status: int, body: str) -> ChannelError:
    """Map a vendor's HTTP error: 408/429/5xx are retried, other 4xx are permanent."""
    retryable = status in (408, 429) or status >= 500
    return ChannelError(f"{provider} HTTP {status}: {body[:300]}", retryable=retryable)


def send_all(channel: Channel, messages: list[OutgoingMessage]) -> list[SendResult | ChannelError]:
    """Send messages on one channel; the outcome of each, in order. A channel with
    ``send_many`` (one SMTP connection for the lot) gets them in one call."""
    many = getattr(channel, "send_many", None)
    if many is not None:
        try:
            return list(many(messages))
        except Exception as exc:  # a bug in an adapter must not wedge the deliveries
            log.exception("channel %s crashed", channel.provider)
            return [ChannelError(f"{type(exc).__name__}: {exc}")] * len(messages)
    return [_send_one(channel, message) for message in messages]


def _send_one(channel: Channel, message: OutgoingMessage) -> SendResult | ChannelError:
    try:
        return channel.send(message)
    except ChannelError as exc:
        return exc
    except Exception as exc:  # a bug in an adapter must not wedge the delivery
        log.exception("channel %s crashed", channel.provider)
        return ChannelError(f"{type(exc).__name__}: {exc}")
