"""Channels behind one interface (``base.Channel``), built from settings. A channel whose
vendor is not configured is absent; its deliveries are recorded as skipped."""

from __future__ import annotations

from collections.abc import Mapping

import redis

from commerce.notifications.channels.base import (
    Channel,
    ChannelError,
    OutgoingMessage,
    SendResult,
)
from shopflow import embedded
from shopflow.config import Settings, get_settings

__all__ = ["Channel", "ChannelError", "OutgoingMessage", "SendResult", "build", "close_all"]


def build(settings: Settings | None = None) -> dict[str, Channel]:
    settings = settings or get_settings()
    timeout = settings.notify_vendor_timeout_s
    found: dict[str, Channel] = {}
    if settings.notify_email_provider == "sendgrid":
        from commerce.notifications.channels.sendgrid import SendGridEmail

        if not settings.sendgrid_api_key:
            raise ValueError("notify_email_provider=sendgrid needs SENDGRID_API_KEY")
        found["email"] = SendGridEmail(
            settings.sendgrid_api_key, settings.notify_email_from, settings.sendgrid_base_url,
            timeout,
        )  # fmt: skip
    elif settings.notify_email_provider == "smtp":
        from commerce.notifications.channels.email_smtp import SmtpEmail

        found["email"] = SmtpEmail(
            settings.smtp_host, settings.smtp_port, settings.notify_email_from,
            settings.smtp_username, settings.smtp_password, settings.smtp_starttls, timeout,
        )  # fmt: skip
    else:
        raise ValueError(f"unknown notify_email_provider {settings.notify_email_provider!r}")
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number:
        from commerce.notifications.channels.twilio import TwilioSms

        callback = None
        if settings.notify_public_base_url:
            base = settings.notify_public_base_url.rstrip("/")
            callback = f"{base}/api/notifications/webhooks/twilio"
        found["sms"] = TwilioSms(
            settings.twilio_account_sid, settings.twilio_auth_token,
            settings.twilio_from_number, settings.twilio_base_url, callback, timeout,
        )  # fmt: skip
    if settings.fcm_project_id and settings.fcm_credentials_file:
        from commerce.notifications.channels.fcm import FcmPush, ServiceAccountTokenProvider

        tokens = ServiceAccountTokenProvider.from_file(settings.fcm_credentials_file)
        found["push"] = FcmPush(settings.fcm_project_id, tokens, settings.fcm_base_url, timeout)
    from commerce.notifications.channels.in_app import InAppRedis

    found["in_app"] = InAppRedis(
        redis.Redis.from_url(  # a hung Redis fails a delivery (retried), never a thread
            embedded.ensure_redis(settings),
            socket_connect_timeout=settings.redis_timeout_s,
            socket_timeout=settings.redis_timeout_s,
        )
    )
    return found


def close_all(channels: Mapping[str, Channel]) -> None:
    for channel in channels.values():
        channel.close()
