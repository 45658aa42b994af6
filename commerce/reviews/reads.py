"""The public review reads the API serves from Redis: a product's rating summary and the
first page of its default listings (no filters, no cursor), with no database hit on a
cache hit. Misses read the database in the thread pool and fill the cache
(``reviews_cache``: cache-aside under epochs, dropped after every committed change)."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis
from starlette.concurrency import run_in_threadpool

from commerce.db import session_scope
from commerce.db.models.commerce import Product
from commerce.db.models.reviews import ReviewStatus
from commerce.reviews import cache, listing
from commerce.reviews.ratings import rating_parts, rating_summary
from shopflow.online_store import keys


def dumps(body: Any) -> str:
    """JSON the way FastAPI's JSONResponse writes it (compact, UTF-8)."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def page_field(sort: str, limit: int) -> str:
    return f"page:{sort}:{limit}"


def _rating_parts(product_id: str) -> tuple[dict[str, Any], dict[str, int]]:
    with session_scope() as session:
        return rating_parts(session, product_id)


async def rating(client: aioredis.Redis, product_id: str, prior_weight: float) -> dict[str, Any]:
    """The rating summary of a product (NotFound for an unknown product)."""
    agg_key, epoch_key = keys.review_rating_cache(product_id), keys.review_cache_epoch(product_id)
    cached = await cache.read(client, "mget", agg_key, keys.REVIEW_CATALOG_CACHE)
    agg_raw, totals_raw = cached if cached is not None else (None, None)
    if agg_raw is not None and totals_raw is not None:
        return rating_summary(product_id, json.loads(agg_raw), json.loads(totals_raw), prior_weight)
    epochs = await cache.epochs(client, epoch_key, keys.REVIEW_CATALOG_EPOCH)
    aggregate, totals = await run_in_threadpool(_rating_parts, product_id)
    if epochs is not None:
        fills: list[cache.Fill] = []
        if agg_raw is None:
            fills.append((agg_key, "", epoch_key, epochs[0], dumps(aggregate)))
        if totals_raw is None:
            fills.append(
                (keys.REVIEW_CATALOG_CACHE, "", keys.REVIEW_CATALOG_EPOCH, epochs[1], dumps(totals))
            )
        await cache.fill(client, fills)
    return rating_summary(product_id, aggregate, totals, prior_weight)


def _first_page(product_id: str, sort: str, limit: int) -> tuple[str, bool]:
    """(JSON body, whether to cache it: the page has reviews or the product exists)."""
    with session_scope() as session:
        body = listing.list_product_reviews(session, product_id, sort=sort, limit=limit)
        worth = bool(body["items"]) or session.get(Product, product_id) is not None
        return dumps(body), worth


async def first_page(client: aioredis.Redis, product_id: str, sort: str, limit: int) -> str:
    """The JSON body of the first page of a product's approved reviews in ``sort`` order."""
    key, field = keys.review_cache(product_id), page_field(sort, limit)
    raw = await cache.read(client, "hget", key, field)
    if raw is not None:
        return str(raw)
    epoch_key = keys.review_cache_epoch(product_id)
    epochs = await cache.epochs(client, epoch_key)
    body, worth = await run_in_threadpool(_first_page, product_id, sort, limit)
    if worth and epochs is not None:
        await cache.fill(client, [(key, field, epoch_key, epochs[0], body)])
    return body


def product_reviews_page(
    product_id: str,
    *,
    stars: list[int] | None,
    verified_only: bool,
    with_media: bool,
    sort: str,
    cursor: str | None,
    limit: int,
) -> str:
    """The JSON body of a filtered or later page of a product's approved reviews (no cache)."""
    with session_scope() as session:
        return dumps(
            listing.list_product_reviews(
                session,
                product_id,
                stars=stars,
                verified_only=verified_only,
                with_media=with_media,
                sort=sort,
                cursor=cursor,
                limit=limit,
            )
        )


def moderation_queue_page(
    statuses: tuple[str, ...] | None, cursor: str | None, limit: int
) -> dict[str, Any]:
    """A page of reviews in ``statuses`` (default: those awaiting moderation), oldest first."""
    with session_scope() as session:
        return listing.moderation_queue(session, statuses or ReviewStatus.QUEUE, cursor, limit)
