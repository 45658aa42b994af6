"""Live metrics of the last minutes, read from what the features consumer writes to Redis
(``keys.live_*``, bucketed per epoch minute of the events' time)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis

from shopflow.events import SUPPORTED_CURRENCIES
from shopflow.online_store import keys

CURRENCIES = sorted(SUPPORTED_CURRENCIES)


async def live_metrics(
    redis: aioredis.Redis, minutes: int, now: float | None = None
) -> dict[str, Any]:
    """Orders placed, orders paid and their revenue per currency (minor units; placed,
    cancelled and failed orders earn none), distinct active users and views per category
    over the last ``minutes`` minutes (the current one included), plus per minute."""
    last = int((now if now is not None else time.time()) // 60)
    span = list(range(last - minutes + 1, last + 1))
    pipe = redis.pipeline(transaction=False)
    for minute in span:
        pipe.get(keys.live_metric(minute, "orders"))
        pipe.get(keys.live_metric(minute, "paid_orders"))
        pipe.mget([keys.live_metric(minute, f"revenue_minor:{c}") for c in CURRENCIES])
        pipe.pfcount(keys.live_active_users(minute))
        pipe.hgetall(keys.live_category_views(minute))
    pipe.pfcount(*[keys.live_active_users(m) for m in span])
    out = await pipe.execute()
    per_minute, revenue, views, orders, paid_orders = [], Counter[str](), Counter[str](), 0, 0
    for i, minute in enumerate(span):
        n, paid, money, users, cats = out[5 * i : 5 * i + 5]
        minute_revenue = {c: int(v) for c, v in zip(CURRENCIES, money, strict=True) if v}
        minute_views = {str(c): int(v) for c, v in cats.items()}
        per_minute.append(
            {
                "minute": _iso(minute),
                "orders": int(n or 0),
                "paid_orders": int(paid or 0),
                "revenue_minor": minute_revenue,
                "active_users": int(users),
                "views_by_category": minute_views,
            }
        )
        orders += int(n or 0)
        paid_orders += int(paid or 0)
        revenue.update(minute_revenue)
        views.update(minute_views)
    return {
        "minutes": minutes,
        "from": _iso(span[0]),
        "to": _iso(last + 1),
        "orders": orders,
        "paid_orders": paid_orders,
        "revenue_minor": dict(revenue),
        "active_users": int(out[-1]),
        "views_by_category": dict(views.most_common()),
        "per_minute": per_minute,
    }


def _iso(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).isoformat()
