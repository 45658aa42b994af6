"""The Redis cache of public review reads: cache-aside under a per-product epoch.

A hit is one Redis command. On a miss the reader reads the epoch, then the database, and
fills the entry only if the epoch is still the one it read (a Lua check): a change whose
bump came after the epoch read refuses the fill, and one whose bump came before it had
committed before the database read. Every committed transaction that changed a product's
reviews or aggregate bumps that product's epoch (and the catalog's, when the prior moved)
and drops the entries, from a session ``after_commit`` hook, so a read after a write
returns never sees stale data. Changes are noticed on flush (any ``Review`` row added,
changed or deleted through the ORM) and through ``mark`` (Core updates of the
aggregates). Cache errors never fail a request.
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

from shopflow import embedded
from shopflow.config import Settings, get_settings
from shopflow.online_store import keys

log = logging.getLogger(__name__)

_PRODUCTS = "reviews_cache.products"
_CATALOG = "reviews_cache.catalog"
_AFTER_COMMIT = "reviews_cache.after_commit"

#: KEYS: entry, epoch; ARGV: epoch read before the database, hash field ('' for a string
#: entry), value, ttl
FILL = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
    redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
else
    redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
    redis.call('EXPIRE', KEYS[1], ARGV[4])
end
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
    """A (pooled) synchronous client on the configured or embedded Redis."""
    url = embedded.ensure_redis(settings or get_settings())
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url, decode_responses=True)
    return client


def try_sync_client(settings: Settings | None = None) -> redis.Redis | None:
    """``sync_client``, or None (logged) when no Redis can be reached or started."""
    try:
        return sync_client(settings)
    except (embedded.ServiceError, OSError) as exc:
        log.warning("Redis unavailable: %s", exc)
        return None


def invalidate(products: Iterable[str], catalog: bool = False) -> None:
    """Bump the epochs and drop the cached reads of ``products`` (and the catalog totals)."""
    pairs: list[tuple[tuple[str, ...], str]] = [
        ((keys.review_cache(p), keys.review_rating_cache(p)), keys.review_cache_epoch(p))
        for p in sorted(products)
    ]
    if catalog:
        pairs.append(((keys.REVIEW_CATALOG_CACHE,), keys.REVIEW_CATALOG_EPOCH))
    try:
        pipe = sync_client().pipeline(transaction=False)
        for entries, epoch_key in pairs:
            pipe.incr(epoch_key)
            pipe.expire(epoch_key, keys.REVIEW_CACHE_EPOCH_TTL_S)
            pipe.delete(*entries)
        pipe.execute()
    except (redis.RedisError, embedded.ServiceError, OSError) as exc:
        # entries lapse after REVIEW_CACHE_TTL_S; fills stay refused while Redis is down
        log.warning("review cache invalidation failed for %d key(s): %s", len(pairs), exc)


# ---- reads and fills (async, the API) ------------------------------------------------------
Fill = tuple[str, str, str, str, str]
"""(entry key, hash field or '' for a string entry, epoch key, epoch, value)"""


async def read(client: aioredis.Redis, op: str, *args: str) -> Any:
    """One read command (``mget``, ``hget``...); None when Redis cannot be read."""
    try:
        return await getattr(client, op)(*args)
    except (redis.RedisError, OSError) as exc:
        log.warning("review cache read failed: %s", exc)
        return None


async def epochs(client: aioredis.Redis, *epoch_keys: str) -> list[str] | None:
    """The epochs to fill under, read BEFORE the database; None when Redis cannot be read
    (then do not fill)."""
    got = await read(client, "mget", *epoch_keys)
    return None if got is None else [e or "0" for e in got]


async def fill(client: aioredis.Redis, fills: list[Fill]) -> None:
    """Store values read from the database, each unless a change committed since its epoch
    was read. One round trip."""
    if not fills:
        return
    try:
        pipe = client.pipeline(transaction=False)
        for key, field, epoch_key, epoch, value in fills:
            pipe.eval(FILL, 2, key, epoch_key, epoch, field, value, _TTL)
        await pipe.execute()
    except (redis.RedisError, OSError) as exc:
        log.warning("review cache fill failed: %s", exc)


_TTL = str(keys.REVIEW_CACHE_TTL_S)
