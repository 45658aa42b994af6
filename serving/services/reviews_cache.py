"""The Redis cache of public review reads: cache-aside under a per-product epoch.

A reader fetches the cached entry and the epoch in one round trip; on a miss it reads the
database and fills the entry only if the epoch is still the one it read before (a Lua
check). Every committed transaction that changed a product's reviews or aggregate bumps
that product's epoch (and the catalog's, when the prior moved) and drops the entries, from
a session ``after_commit`` hook, so a read after a write returns never sees stale data and
a fill that raced a write is refused. Changes are noticed on flush (any ``Review`` row
added, changed or deleted, however the change was made through the ORM) and through
``mark`` (Core updates of the aggregates). Cache errors never fail a request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from itertools import chain
from typing import Any

import redis
import redis.asyncio as aioredis
from sqlalchemy.orm import Session

from shopflow import keys, services
from shopflow.config import Settings, get_settings

log = logging.getLogger(__name__)

_PRODUCTS = "reviews_cache.products"
_CATALOG = "reviews_cache.catalog"
_AFTER_COMMIT = "reviews_cache.after_commit"

#: KEYS: hash, epoch; ARGV: epoch read before the database, field, value, ttl
FILL = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


# ---- invalidation (sync, from the session hooks) ---------------------------------------------
def mark(session: Session, product_id: str, catalog: bool = False) -> None:
    """Drop ``product_id``'s cached reads (and the catalog totals) once this session commits."""
    session.info.setdefault(_PRODUCTS, set()).add(product_id)
    if catalog:
        session.info[_CATALOG] = True


def after_commit_call(session: Session, action: Any) -> None:
    """Run ``action()`` after the session's outer transaction commits (dropped on rollback);
    for side effects outside the database, such as deleting stored files."""
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


def on_after_flush(session: Session) -> None:
    from serving.db.models.reviews import Review

    for obj in chain(session.new, session.deleted, session.dirty):
        if isinstance(obj, Review) and (
            obj not in session.dirty or session.is_modified(obj, include_collections=False)
        ):
            mark(session, obj.product_id)


def on_after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint: wait for the outer commit
        return
    products: set[str] = session.info.pop(_PRODUCTS, set())
    catalog: bool = session.info.pop(_CATALOG, False)
    actions: list[Any] = session.info.pop(_AFTER_COMMIT, [])
    if products or catalog:
        invalidate(products, catalog)
    for action in actions:
        try:
            action()
        except Exception:  # a side effect must not turn a committed change into an error
            log.exception("after-commit action failed")


def on_after_rollback(session: Session) -> None:
    if not session.in_nested_transaction():
        for name in (_PRODUCTS, _CATALOG, _AFTER_COMMIT):
            session.info.pop(name, None)


_clients: dict[str, redis.Redis] = {}


def sync_client(settings: Settings | None = None) -> redis.Redis:
    """A (pooled) synchronous client on the configured or embedded Redis."""
    url = services.redis_url(settings or get_settings())
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url, decode_responses=True)
    return client


def try_sync_client(settings: Settings | None = None) -> redis.Redis | None:
    """``sync_client``, or None (logged) when no Redis can be reached or started."""
    try:
        return sync_client(settings)
    except (services.ServiceError, OSError) as exc:
        log.warning("Redis unavailable: %s", exc)
        return None


def invalidate(products: Iterable[str], catalog: bool = False) -> None:
    """Bump the epochs and drop the cached reads of ``products`` (and the catalog totals)."""
    pairs = [(keys.review_cache(p), keys.review_cache_epoch(p)) for p in sorted(products)]
    if catalog:
        pairs.append((keys.REVIEW_CATALOG_CACHE, keys.REVIEW_CATALOG_EPOCH))
    try:
        pipe = sync_client().pipeline(transaction=False)
        for cache_key, epoch_key in pairs:
            pipe.incr(epoch_key).expire(epoch_key, keys.REVIEW_CACHE_EPOCH_TTL_S)
            pipe.delete(cache_key)
        pipe.execute()
    except (redis.RedisError, services.ServiceError, OSError) as exc:
        # entries lapse after REVIEW_CACHE_TTL_S; fills stay refused while Redis is down
        log.warning("review cache invalidation failed for %d key(s): %s", len(pairs), exc)


# ---- reads and fills (async, the API) ------------------------------------------------------
async def fetch(
    client: aioredis.Redis, wanted: list[tuple[str, str, str]]
) -> list[tuple[str | None, str | None]]:
    """For each (hash key, field, epoch key): (cached value or None, epoch or None when
    Redis could not be read; then do not fill). One round trip."""
    try:
        pipe = client.pipeline(transaction=False)
        for cache_key, field, epoch_key in wanted:
            pipe.hget(cache_key, field)
            pipe.get(epoch_key)
        got = await pipe.execute()
    except (redis.RedisError, OSError) as exc:
        log.warning("review cache read failed: %s", exc)
        return [(None, None)] * len(wanted)
    return [(got[i], got[i + 1] or "0") for i in range(0, len(got), 2)]


async def fill(
    client: aioredis.Redis, cache_key: str, field: str, epoch_key: str, epoch: str | None,
    value: str,
) -> None:  # fmt: skip
    """Store ``value`` read from the database unless a change committed since ``epoch``."""
    if epoch is None:
        return
    try:
        await client.eval(  # type: ignore[misc]
            FILL, 2, cache_key, epoch_key, epoch, field, value, keys.REVIEW_CACHE_TTL_S
        )
    except (redis.RedisError, OSError) as exc:
        log.warning("review cache fill failed: %s", exc)
