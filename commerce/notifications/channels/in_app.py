"""In-app notifications: published on the user's Redis pub/sub channel
(``keys.notification_channel``), which every API worker's WebSocket listeners subscribe to."""

from __future__ import annotations

import json

import redis

from commerce.notifications.channels.base import ChannelError, OutgoingMessage, SendResult
from shopflow.online_store import keys


class InAppRedis:
    name = "in_app"
    provider = "redis"

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def send(self, message: OutgoingMessage) -> SendResult:
        body = {
            "type": "notification",
            "delivery_id": message.delivery_id,
            "subject": message.subject,
            "text": message.text,
            "data": message.data,
        }
        try:
            receivers = self.client.publish(
                keys.notification_channel(message.user_id), json.dumps(body)
            )
        except redis.RedisError as exc:
            raise ChannelError(f"redis: {exc}") from exc
        return SendResult(self.provider, message.delivery_id, delivered=bool(receivers))

    def close(self) -> None:
        self.client.close()
