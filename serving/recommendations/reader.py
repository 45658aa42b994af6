"""The online-store reader: every Redis read the recommendation API makes, through
``shopflow.online_store.keys``. Reads are pipelined or scripted (one round trip per call); the
publish pointer and its meta hash are cached in-process for ``pointer_ttl_s`` seconds.

A recommendation request starts with ``read_ahead``: one script call runs the reads its candidate
sources plan (``serving.recommendations.read_ahead``) and reads the availability of the first
candidates. It returns a view of the store that answers those reads from memory and goes to
Redis only for the rest, so the usual request costs one round trip. Values are decoded by
``shopflow.online_store.codec``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from serving import auto_pipeline
from serving.recommendations.read_ahead import (
    AVAILABILITY_LUA,
    MAX_CANDIDATES,
    READ_AHEAD_LUA,
    Neighbours,
    Prefetched,
    ReadAhead,
    prefetched,
)
from shopflow.online_store import keys
from shopflow.online_store.codec import (
    ITEM_FIELDS,
    ItemInfo,
    Scored,
    UserFeatures,
    decode_item,
    decode_scored,
    decode_user_features,
    decode_zset,
)
from shopflow.online_store.connect import AsyncClient

if TYPE_CHECKING:
    from serving.recommendations.snapshot import PopularSnapshot


@dataclass(frozen=True, slots=True)
class Publication:
    """The publish version readers use now, with its meta hash."""

    version: str
    meta: dict[str, str]
    strategies: list[str] = field(init=False)
    """Strategies with a published model, sorted."""

    def __post_init__(self) -> None:
        names = sorted(k.removesuffix(".model") for k in self.meta if k.endswith(".model"))
        object.__setattr__(self, "strategies", names)

    def model_of(self, strategy: str) -> tuple[str | None, str | None]:
        """(registered model name, model version) that produced ``strategy``'s lists."""
        return self.meta.get(f"{strategy}.model"), self.meta.get(f"{strategy}.version")

    @property
    def published_at(self) -> str | None:
        return self.meta.get("published_at")


@dataclass(frozen=True, slots=True)
class Availability:
    """What the business filters need for a batch of candidate items (it may know more)."""

    info: Mapping[str, ItemInfo | None]
    purchased: AbstractSet[str]
    disliked: AbstractSet[str]
    blocked: AbstractSet[str]


class _Pointer:
    """The cached publication, shared by a store and its per-request views."""

    __slots__ = ("publication", "expires")

    def __init__(self) -> None:
        self.publication: Publication | None = None
        self.expires = 0.0


class OnlineStore:
    """Reads the published recommendation layout and the online item/user features."""

    def __init__(self, redis: AsyncClient, pointer_ttl_s: float = 1.0) -> None:
        self.redis = redis
        self.pointer_ttl_s = pointer_ttl_s
        self._pointer = _Pointer()
        self._read: Prefetched | None = None
        self.popular_snapshot: PopularSnapshot | None = None
        """The last popularity list read, served while Redis is down (``snapshot``)."""
        self._send = auto_pipeline.batched(redis)
        """Single reads of concurrent requests share round trips (``serving.auto_pipeline``)."""
        self._availability_script = redis.register_script(AVAILABILITY_LUA)
        self._read_ahead_script = redis.register_script(READ_AHEAD_LUA)

    async def publication(self) -> Publication | None:
        """The current publication, or None when nothing has been published yet."""
        now = time.monotonic()
        pointer = self._pointer
        if now < pointer.expires:
            return pointer.publication
        publication = await self.read_publication()
        pointer.publication, pointer.expires = publication, now + self.pointer_ttl_s
        return publication

    async def read_publication(self) -> Publication | None:
        """The current publication read from Redis now (not cached)."""
        # the app's client decodes responses (serving.app: decode_responses=True)
        version = cast(str | None, await self.redis.get(keys.PUBLISH_POINTER))
        if not version:
            return None
        meta = cast(dict[str, str], await self.redis.hgetall(keys.publish_meta(version)))
        return Publication(version=version, meta=meta) if meta else None

    def forget_publication(self) -> None:
        """Drop the cached pointer (the next read goes to Redis)."""
        self._pointer.expires = 0.0

    async def read_ahead(self, spec: ReadAhead) -> OnlineStore:
        """One round trip for the reads ``spec`` plans (``serving.recommendations.read_ahead``);
        returns a view of this store that answers them from memory (for this request only)."""
        user_sets = keys.user_exclusions(spec.user_id) if spec.user_id is not None else []
        reply = await self._run(
            self._read_ahead_script,
            [keys.BLOCKED_ITEMS, *user_sets],
            [spec.plan(), min(spec.candidates, MAX_CANDIDATES)],
        )
        view = object.__new__(OnlineStore)  # copy.copy costs six times as much
        view.__dict__.update(self.__dict__)
        view._read = prefetched(spec, reply)
        return view

    async def lists(self, redis_keys: list[str]) -> list[list[Scored] | None]:
        """Several published JSON lists in one round trip."""
        if not redis_keys:
            return []
        read = self._read
        if read is not None and all(key in read.lists for key in redis_keys):
            return [decode_scored(read.lists[key]) for key in redis_keys]
        if len(redis_keys) == 1:
            return [decode_scored(await self._send("GET", redis_keys[0]))]
        return [decode_scored(raw) for raw in await self.redis.mget(redis_keys)]

    async def user_recs(self, pub: Publication, user_id: str, strategy: str) -> list[Scored] | None:
        return (await self.lists([keys.user_recs(pub.version, user_id, strategy)]))[0]

    async def popular(self, pub: Publication, category: str | None = None) -> list[Scored] | None:
        return (await self.lists([keys.popular(pub.version, category)]))[0]

    async def similar(self, pub: Publication, item_id: str) -> list[Scored] | None:
        return (await self.lists([keys.similar_items(pub.version, item_id)]))[0]

    async def recent_items(self, user_id: str, since: float, n: int) -> list[Scored]:
        """Items the user touched since ``since`` (epoch seconds), latest first, with the time."""
        return await self.top(keys.user_recent_items(user_id), n, since)

    async def trending(self, n: int) -> list[Scored]:
        """The top of the decayed trending set."""
        return await self.top(keys.TRENDING, n)

    async def top(self, key: str, n: int, since: float | None = None) -> list[Scored]:
        """A sorted set's ``n`` highest members (scored at least ``since``), highest first."""
        read = self._read
        if read is not None and (members := read.top(key, n, since)) is not None:
            return members
        low = "-inf" if since is None else since
        rows = await self.redis.zrevrangebyscore(key, "+inf", low, start=0, num=n, withscores=True)
        return decode_zset(rows)

    async def neighbours(self, pub: Publication, item_ids: list[str], n: int) -> Neighbours:
        """Each item's published similar items and its top ``n`` session co-views, in one
        round trip."""
        if not item_ids:
            return [], []
        read = self._read
        prefix = keys.similar_items(pub.version, "")
        if read is not None and (found := read.neighbours_of(prefix, item_ids, n)) is not None:
            return found
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.mget([keys.similar_items(pub.version, i) for i in item_ids])
            for item_id in item_ids:
                pipe.zrevrange(keys.coviews(item_id), 0, n - 1, withscores=True)
            similar, *coviews = await pipe.execute()
        return (
            [decode_scored(raw) for raw in similar],
            [decode_zset(rows) for rows in coviews],
        )

    async def user_history(self, pub: Publication, user_id: str, n: int = 100) -> list[Scored]:
        """The user's strongest batch interactions, strongest first."""
        rows = await self.redis.zrevrange(
            keys.user_history(pub.version, user_id), 0, n - 1, withscores=True
        )
        return decode_zset(rows)

    async def user_features(self, user_id: str) -> UserFeatures:
        """A user's real-time cart and category affinities (empty when the user has none)."""
        return decode_user_features(await self._send("HGETALL", keys.user_features(user_id)))

    async def item_infos(self, item_ids: list[str]) -> dict[str, ItemInfo | None]:
        if not item_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for item_id in item_ids:
                pipe.hmget(keys.item_info(item_id), ITEM_FIELDS)
            rows = await pipe.execute()
        return {i: decode_item(i, row) for i, row in zip(item_ids, rows, strict=True)}

    async def item_info(self, item_id: str) -> ItemInfo | None:
        return (await self.item_infos([item_id]))[item_id]

    async def availability(self, item_ids: list[str], user_id: str | None) -> Availability:
        """Item info plus "already bought", "disliked" and "blocked" membership of ``item_ids``: one
        server-side script call (a pipeline of ~3 commands per item costs far more to pack and
        parse on the client), none for items read ahead. The script builds item keys from
        ``keys.item_info``'s prefix: the layout's keys share one cluster slot (``keys.STORE``)."""
        read = self._read
        if read is not None and read.user_id == user_id:
            missing = [i for i in item_ids if i not in read.info]
            if missing:
                read.collect(missing, await self._availability_rows(missing, user_id))
            return Availability(read.info, read.purchased, read.disliked, read.blocked)  # supersets
        fresh = Prefetched(user_id)
        fresh.collect(item_ids, await self._availability_rows(item_ids, user_id))
        return Availability(fresh.info, fresh.purchased, fresh.disliked, fresh.blocked)

    async def _availability_rows(self, item_ids: list[str], user_id: str | None) -> list[list]:
        if not item_ids:
            return [[], [], [], []]
        user_sets = keys.user_exclusions(user_id) if user_id is not None else []
        return await self._run(
            self._availability_script, [keys.BLOCKED_ITEMS, *user_sets], item_ids
        )

    async def _run(self, script: AsyncScript, script_keys: list[str], args: list) -> Any:
        """EVALSHA, auto-pipelined (the script object's wrapper costs a tenth of a request);
        the script is loaded when the server does not know it yet."""
        try:
            return await self._send("EVALSHA", script.sha, len(script_keys), *script_keys, *args)
        except NoScriptError:
            return await script(keys=script_keys, args=args)
