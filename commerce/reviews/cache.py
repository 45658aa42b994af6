"""The Redis cache of public review reads, versioned by the database.

Every committed change to a product's reviews or aggregate bumps that product's version
(and the catalog's, when the prior moved) in ``cache_versions``, in the same transaction
(``commerce.cache_versions``): changes are noticed on flush (any ``Review`` row added,
changed or deleted through the ORM) and through ``mark`` (Core updates of the aggregates).
A cache entry holds the versions it was read under (read before the data, in the same
session) and is served only while they are still the database's: a lost invalidation, a
fill that raced a write or a Redis restored from an older snapshot serves nothing stale.
After the commit the entries are also dropped (only to free them early). Cache errors never
fail a request: without Redis the reads go to the database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from itertools import chain
from typing import Any

import redis
import redis.asyncio as aioredis
from sqlalchemy import event
from sqlalchemy.orm import Session

from commerce import cache_versions
from shopflow import embedded
from shopflow.config import Settings, get_settings
from shopflow.online_store import keys

log = logging.getLogger(__name__)

_PRODUCTS = "reviews_cache.products"
_CATALOG = "reviews_cache.catalog"
_AFTER_COMMIT = "reviews_cache.after_commit"

CATALOG_VERSION = "reviews:~catalog"
"""The ``cache_versions`` name of the catalog-wide review totals."""


def product_version(product_id: str) -> str:
    """The ``cache_versions`` name of a product's cached review reads."""
    return f"reviews:{product_id}"


# ---- invalidation (sync, from the session hooks) ---------------------------------------------
def mark(session: Session, product_id: str, catalog: bool = False) -> None:
    """Bump ``product_id``'s cache version (and the catalog's) in this transaction, and drop
    the cached reads once it commits."""
    cache_versions.bump(session, product_version(product_id))
    session.info.setdefault(_PRODUCTS, set()).add(product_id)
    if catalog:
        cache_versions.bump(session, CATALOG_VERSION)
        session.info[_CATALOG] = True


def after_commit_call(session: Session, action: Any) -> None:
    """Run ``action()`` after the session's outer transaction commits (dropped on rollback);
    for side effects outside the database, such as deleting stored files."""
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


def on_after_flush(session: Session, _flush_context: object = None) -> None:
    from commerce.db.models.reviews import Review

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


def install_session_hooks() -> None:
    """Watch every ORM session for review changes; idempotent. ``commerce.reviews`` calls it
    on import, so all code that can change a review (its services, the order paths that
    refresh verified badges) runs with it."""
    if not event.contains(Session, "after_commit", on_after_commit):
        event.listen(Session, "after_flush", on_after_flush)
        event.listen(Session, "after_commit", on_after_commit)
        event.listen(Session, "after_rollback", on_after_rollback)


_clients: dict[str, redis.Redis] = {}


def sync_client(settings: Settings | None = None) -> redis.Redis:
    """A (pooled) synchronous client on the configured or embedded Redis; it fails fast
    while Redis is down and reconnects once it is back."""
    settings = settings or get_settings()
    url = embedded.ensure_redis(settings)
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=settings.redis_timeout_s,
            socket_timeout=settings.redis_timeout_s,
        )
    return client


def try_sync_client(settings: Settings | None = None) -> redis.Redis | None:
    """``sync_client``, or None (logged) when no Redis can be reached or started."""
    try:
        return sync_client(settings)
    except (embedded.ServiceError, OSError) as exc:
        log.warning("Redis unavailable: %s", exc)
        return None


def invalidate(products: Iterable[str], catalog: bool = False) -> None:
    """Drop the cached reads of ``products`` (and the catalog totals): only frees them early,
    the versions already keep them from being served."""
    entries = [key for p in sorted(products) for key in (keys.review_cache(p),
               keys.review_rating_cache(p))]  # fmt: skip
    if catalog:
        entries.append(keys.REVIEW_CATALOG_CACHE)
    try:
        sync_client().delete(*entries)
    except (redis.RedisError, embedded.ServiceError, OSError) as exc:
        log.warning("review cache invalidation failed for %d key(s): %s", len(entries), exc)


# ---- reads and fills (async, the API) ------------------------------------------------------
def versioned(versions: Iterable[int], value: str) -> str:
    """A cache value: the versions it was read under, then the JSON."""
    return ".".join(map(str, versions)) + "|" + value


def unversioned(raw: str | None, versions: Iterable[int]) -> str | None:
    """The JSON of a cached value if it was read under ``versions`` (None: stale or none)."""
    if raw is None:
        return None
    label, _, value = raw.partition("|")
    return value if label == ".".join(map(str, versions)) else None


async def read(client: aioredis.Redis, op: str, *args: str) -> Any:
    """One read command (``mget``, ``hget``...); None when Redis cannot be read."""
    try:
        return await getattr(client, op)(*args)
    except (redis.RedisError, OSError) as exc:
        log.warning("review cache read failed: %s", exc)
        return None


Fill = tuple[str, str, str]
"""(entry key, hash field or '' for a string entry, versioned value)"""


async def fill(client: aioredis.Redis, fills: list[Fill]) -> None:
    """Store values read from the database (with their versions). One round trip."""
    if not fills:
        return
    try:
        pipe = client.pipeline(transaction=False)
        for key, field, value in fills:
            if field:
                pipe.hset(key, field, value)
                pipe.expire(key, keys.REVIEW_CACHE_TTL_S)
            else:
                pipe.set(key, value, ex=keys.REVIEW_CACHE_TTL_S)
        await pipe.execute()
    except (redis.RedisError, OSError) as exc:
        log.warning("review cache fill failed: %s", exc)
