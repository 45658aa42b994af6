"""The live revenue (features consumer -> Redis -> /analytics/realtime) subtracts a lost
dispute; a won one changes nothing. Real Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import redis.asyncio as aioredis

from pipelines.streaming.features import TOPICS, FeaturesProcessor
from serving.live_metrics import live_metrics
from shopflow import events, topics

AT = datetime(2026, 1, 5, 12, 0, 30, tzinfo=UTC)


def _closed(pay: str, status: str) -> events.Envelope:
    payload = {"payment_id": pay, "order_id": f"o-{pay}", "amount_minor": 2000,
               "currency": "KWD", "method": "STRIPE", "gateway": "stripe", "status": status,
               "disputed_minor": 2000}  # fmt: skip
    return events.make_event("payment.dispute_closed", payload, user_id="u1", occurred_at=AT)


def test_lost_dispute_leaves_the_live_revenue(stream_settings, redis_client, redis_server) -> None:
    assert topics.PAYMENTS in TOPICS
    processor = FeaturesProcessor(redis_client, stream_settings)
    paid = {"order_id": "o1", "total_minor": 5000, "currency": "KWD"}
    processor.apply([events.make_event("order_paid", paid, user_id="u1", occurred_at=AT)])
    processor.apply([_closed("p1", "CHARGED_BACK"), _closed("p2", "COMPLETED")])

    async def read() -> dict:
        client = aioredis.from_url(redis_server, decode_responses=True)
        try:
            return await live_metrics(client, 1, now=AT.timestamp())
        finally:
            await client.aclose()

    got = asyncio.run(read())
    assert got["paid_orders"] == 1 and got["revenue_minor"] == {"KWD": 3000}
