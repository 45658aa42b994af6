"""The public review reads the API serves from its caches: a product's rating summary and the
first page of its default listings (no filters, no cursor). Every read first reads the
current cache versions (one primary-key query, ``commerce.cache_versions.read_async``); a
body this process served under them is answered from memory (``local_cache``), else an
entry of the shared Redis cache read under them (one command), else the versions and the
data are read in one session in the thread pool and both caches filled
(``commerce.reviews.cache``)."""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis
from starlette.concurrency import run_in_threadpool

from commerce import cache_versions
from commerce.db import session_scope
from commerce.db.models.commerce import Product
from commerce.db.models.reviews import ReviewStatus
from commerce.reviews import cache, listing, local_cache
from commerce.reviews.ratings import rating_parts, rating_summary
from shopflow.online_store import keys


def dumps(body: Any) -> str:
    """JSON the way FastAPI's JSONResponse writes it (compact, UTF-8)."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def page_field(sort: str, limit: int) -> str:
    return f"page:{sort}:{limit}"


def _rating_parts(product_id: str) -> tuple[list[int], dict[str, Any], dict[str, int]]:
    """(the versions read first, the product's aggregate, the catalog totals)."""
    with session_scope() as session:
        versions = cache_versions.current(
            session, [cache.product_version(product_id), cache.CATALOG_VERSION]
        )
        return versions, *rating_parts(session, product_id)


async def rating_body(client: aioredis.Redis, product_id: str, prior_weight: float) -> bytes:
    """The JSON body of a product's rating summary (NotFound for an unknown product)."""
    versions = await cache_versions.read_async(
        [cache.product_version(product_id), cache.CATALOG_VERSION]
    )
    local = local_cache.bodies()
    body = local.get(("rating", product_id, prior_weight, *versions))
    if body is None:  # the versions the summary was read under key it
        versions, summary = await _rating(client, product_id, prior_weight, versions)
        body = dumps(summary).encode()
        local.put(("rating", product_id, prior_weight, *versions), body)
    return body


async def _rating(
    client: aioredis.Redis, product_id: str, prior_weight: float, versions: list[int]
) -> tuple[list[int], dict[str, Any]]:
    """(the versions it was read under, the rating summary), from Redis or the database."""
    product_v, catalog_v = versions
    agg_key = keys.review_rating_cache(product_id)
    cached = await cache.read(client, "mget", agg_key, keys.REVIEW_CATALOG_CACHE)
    agg_raw, totals_raw = cached if cached is not None else (None, None)
    agg_json = cache.unversioned(agg_raw, [product_v])
    totals_json = cache.unversioned(totals_raw, [catalog_v])
    if agg_json is not None and totals_json is not None:
        return versions, rating_summary(
            product_id, json.loads(agg_json), json.loads(totals_json), prior_weight
        )
    versions, aggregate, totals = await run_in_threadpool(_rating_parts, product_id)
    product_v, catalog_v = versions
    await cache.fill(
        client,
        [
            (agg_key, "", cache.versioned([product_v], dumps(aggregate))),
            (keys.REVIEW_CATALOG_CACHE, "", cache.versioned([catalog_v], dumps(totals))),
        ],
    )
    return versions, rating_summary(product_id, aggregate, totals, prior_weight)


def _first_page(product_id: str, sort: str, limit: int) -> tuple[int, str, bool]:
    """(the version read first, JSON body, whether to cache it: the page has reviews or the
    product exists)."""
    with session_scope() as session:
        [version] = cache_versions.current(session, [cache.product_version(product_id)])
        body = listing.list_product_reviews(session, product_id, sort=sort, limit=limit)
        worth = bool(body["items"]) or session.get(Product, product_id) is not None
        return version, dumps(body), worth


async def first_page(client: aioredis.Redis, product_id: str, sort: str, limit: int) -> bytes:
    """The JSON body of the first page of a product's approved reviews in ``sort`` order."""
    [version] = await cache_versions.read_async([cache.product_version(product_id)])
    local = local_cache.bodies()
    body = local.get(("page", product_id, sort, limit, version))
    if body is not None:
        return body
    key, field = keys.review_cache(product_id), page_field(sort, limit)
    cached = cache.unversioned(await cache.read(client, "hget", key, field), [version])
    if cached is not None:
        body = cached.encode()
    else:
        version, text, worth = await run_in_threadpool(_first_page, product_id, sort, limit)
        body = text.encode()
        if not worth:
            return body
        await cache.fill(client, [(key, field, cache.versioned([version], text))])
    local.put(("page", product_id, sort, limit, version), body)
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
