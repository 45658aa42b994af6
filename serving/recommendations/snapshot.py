"""The last published popularity list, kept in process memory and served by
``/recommendations`` while the online store (Redis) cannot be read.

A storefront prefers some list over an error, and the popular items change slowly: the
snapshot is refreshed from Redis every ``popular_snapshot_s`` seconds while Redis is up
(``refreshing``, run by the app's lifespan). Answers from it say so
(``fallback_reason: "online store unavailable"``); with no snapshot yet (Redis down since
start-up) the request gets a 503 with Retry-After instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from commerce.errors import Unavailable
from serving.recommendations.query import RecQuery
from serving.recommendations.reader import OnlineStore, Publication
from shopflow import ids
from shopflow.online_store.codec import ItemInfo

log = logging.getLogger(__name__)

STORE_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)
"""What a Redis call raises when the online store cannot be reached (or answers too late)."""
REASON = "online store unavailable"
RETRY_AFTER_S = 5
SIZE = 200
"""Popular items kept (enough for the largest ``limit`` after filters)."""


@dataclass(frozen=True, slots=True)
class PopularSnapshot:
    publication: Publication
    items: tuple[tuple[str, float, ItemInfo], ...]
    """(item id, popularity score, info) of the showable items, most popular first."""
    taken_at: float


async def take(store: OnlineStore) -> PopularSnapshot | None:
    """Read the published popularity list and its items' info (None: nothing published)."""
    pub = await store.read_publication()  # not through the requests' cached pointer
    if pub is None:
        return None
    popular = (await store.popular(pub) or [])[:SIZE]
    infos = await store.item_infos([item for item, _ in popular])
    items = tuple(
        (item, score, info)
        for item, score in popular
        if (info := infos.get(item)) is not None and info.in_stock and not info.blocked
    )
    return PopularSnapshot(pub, items, time.time())


def answer(snapshot: PopularSnapshot | None, query: RecQuery) -> dict[str, object]:
    """``query`` answered from ``snapshot`` (shaped like ``service.recommend``'s body);
    Unavailable when there is none."""
    if snapshot is None:
        raise Unavailable(f"{REASON}; retry later", retry_after=RETRY_AFTER_S)
    chosen: list[dict[str, object]] = []
    per_category: Counter[str | None] = Counter()
    for item_id, score, info in snapshot.items:
        if len(chosen) >= query.limit:
            break
        if item_id in query.exclude or (query.category and info.category != query.category):
            continue
        cap = query.max_per_category
        if cap is not None and per_category[info.category] >= cap:
            continue
        per_category[info.category] += 1
        chosen.append(
            {
                "item_id": item_id,
                "score": score,
                "title": info.title,
                "category": info.category,
                "brand": info.brand,
                "price_minor": info.price_minor,
                "currency": info.currency,
                "sources": ["popularity"],
            }
        )
    pub = snapshot.publication
    model, model_version = pub.model_of("popularity")
    return {
        "user_id": query.user_id,
        "request_id": str(ids.uuid4()),
        "strategy": query.strategy,
        "variant": None,
        "experiment_key": None,
        "model": model or "popularity",
        "model_version": model_version,
        "published_version": pub.version,
        "published_at": pub.published_at,
        "sources": ["popularity"] if chosen else [],
        "fallback": True,
        "fallback_reason": REASON,
        "items": chosen,
    }


@contextlib.asynccontextmanager
async def refreshing(store: OnlineStore, every_s: float) -> AsyncIterator[None]:
    """Keep ``store.popular_snapshot`` fresh while the context is open."""

    async def loop() -> None:
        while True:
            try:
                snapshot = await take(store)
                if snapshot is not None:
                    store.popular_snapshot = snapshot
            except STORE_DOWN as exc:  # keep the last one; try again next round
                log.info("popularity snapshot not refreshed: %s", exc)
            except Exception:
                log.exception("popularity snapshot failed")
            await asyncio.sleep(every_s)

    task = asyncio.create_task(loop(), name="popular-snapshot")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.wait([task], timeout=1.0)
