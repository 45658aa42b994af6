"""The online-store reader: every Redis read the recommendation API makes, through
``shopflow.keys``. Reads are pipelined or scripted (one round trip per call); the publish pointer
and its meta hash are cached in-process for ``pointer_ttl_s`` seconds.

A recommendation request starts with ``read_ahead``: one script call reads the user's list, their
recent items, the fallback lists when they have neither, and the availability of the first
candidates. It returns a view of the store that answers those reads from memory and goes to
Redis only for the rest, so the usual request costs one round trip.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from serving.recommendations import redis_mux
from shopflow import keys

log = logging.getLogger(__name__)

Scored = tuple[str, float]
"""An item id with a score (model score, similarity, popularity or interaction weight)."""

ITEM_FIELDS = ("title", "category", "brand", "price_minor", "currency", "stock", "blocked")
ITEM_INFO_PREFIX = keys.item_info("")
MUX_RETRY_S = 5.0
MAX_READ_AHEAD = 500
"""At most this many candidates' availability is read ahead (a Lua ``unpack`` has limits)."""


def _lua(source: str) -> str:
    """A script with the key layout's constants filled in (as Lua string literals)."""
    constants = {
        "FIELDS": ITEM_FIELDS,
        "ITEM_PREFIX": (ITEM_INFO_PREFIX,),
        "BLOCKED": (keys.BLOCKED_ITEMS,),
        "TRENDING": (keys.TRENDING,),
        "COVIEWS": (keys.coviews(""),),
    }
    for name, values in constants.items():
        assert not any("'" in v or "\\" in v for v in values), values
        source = source.replace(name, ", ".join(f"'{v}'" for v in values))
    return source


# Both scripts build item keys from ``keys.item_info``'s prefix and read constant keys, so they
# need a standalone Redis (or one cluster slot), like the rest of the layout; SMISMEMBER needs
# Redis 6.2 or later.
AVAILABILITY_LUA = _lua("""
-- KEYS: the user's purchased set, if any. ARGV: item ids.
-- Returns {{fields} per item, blocked flags, bought flags (empty without a user)}.
local fields = {FIELDS}
local rows = {}
for i = 1, #ARGV do rows[i] = redis.call('HMGET', ITEM_PREFIX .. ARGV[i], unpack(fields)) end
local bought = {}
if #KEYS > 0 then bought = redis.call('SMISMEMBER', KEYS[1], unpack(ARGV)) end
return {rows, redis.call('SMISMEMBER', BLOCKED, unpack(ARGV)), bought}
""")

READ_AHEAD_LUA = _lua("""
-- A recommendation request's first reads. KEYS: 1 the user's list, 2 their recent items,
-- 3 and 4 the popular lists to fall back to (the query's category, global), 5 the user's
-- purchased set. ARGV: 1 recent since (epoch s), 2 recent count, 3 trending count, 4 how many
-- candidates to read availability for, 5 the similar-items key prefix of the version,
-- 6 co-views per recent item. The recent items' neighbours (similar items, co-views) are read
-- when there are recent items; the fallbacks (trending, then popular) only when the user has
-- neither a list nor recent items, each only while the earlier ones gave no candidate.
-- Returns {list, recent, similar lists, co-views, trending (false: not read), popular lists
-- read, their values, candidate ids, {fields} per candidate, blocked flags, bought flags}.
local n = tonumber(ARGV[4])
local ids = {}
local function take(raw)
  if not raw then return end
  local ok, list = pcall(cjson.decode, raw)
  if not ok or type(list) ~= 'table' then return end
  for i = 1, math.min(n, #list) do
    if type(list[i]) ~= 'table' or list[i][1] == nil then return end
    ids[i] = tostring(list[i][1])
  end
end
local user_list = redis.call('GET', KEYS[1])
local recent = redis.call(
  'ZREVRANGEBYSCORE', KEYS[2], '+inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
local similar, coviews = {}, {}
for i = 1, #recent, 2 do
  similar[#similar + 1] = redis.call('GET', ARGV[5] .. recent[i])
  coviews[#coviews + 1] = redis.call(
    'ZREVRANGE', COVIEWS .. recent[i], 0, tonumber(ARGV[6]) - 1, 'WITHSCORES')
end
local trending = false
local popular = {}
if user_list then
  take(user_list)
elseif #recent == 0 then
  trending = redis.call('ZREVRANGE', TRENDING, 0, tonumber(ARGV[3]) - 1, 'WITHSCORES')
  for i = 1, math.min(n, #trending / 2) do ids[i] = trending[2 * i - 1] end
  for k = 3, 4 do
    if #ids > 0 or (k == 4 and KEYS[4] == KEYS[3]) then break end
    popular[#popular + 1] = redis.call('GET', KEYS[k])
    take(popular[#popular])
  end
end
local fields = {FIELDS}
local rows, blocked, bought = {}, {}, {}
if #ids > 0 then
  for i, item_id in ipairs(ids) do
    rows[i] = redis.call('HMGET', ITEM_PREFIX .. item_id, unpack(fields))
  end
  blocked = redis.call('SMISMEMBER', BLOCKED, unpack(ids))
  bought = redis.call('SMISMEMBER', KEYS[5], unpack(ids))
end
return {user_list, recent, similar, coviews, trending, #popular, popular[1] or false,
  popular[2] or false, ids, rows, blocked, bought}
""")


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


@dataclass(slots=True)  # not frozen: a frozen one costs twice as much to make, per candidate
class ItemInfo:
    item_id: str
    title: str | None
    category: str | None
    brand: str | None
    price_minor: int | None
    currency: str | None
    stock: int | None
    blocked: bool

    @property
    def in_stock(self) -> bool:
        """Untracked stock (no ``stock`` field) counts as available."""
        return self.stock is None or self.stock > 0

    def public(self) -> dict[str, object]:
        """The fields a response shows."""
        return {
            "title": self.title,
            "category": self.category,
            "brand": self.brand,
            "price_minor": self.price_minor,
            "currency": self.currency,
        }


@dataclass(frozen=True, slots=True)
class Availability:
    """What the business filters need for a batch of candidate items (it may know more)."""

    info: Mapping[str, ItemInfo | None]
    purchased: AbstractSet[str]
    blocked: AbstractSet[str]


@dataclass(slots=True)
class ReadAhead:
    """What a recommendation request reads first (``OnlineStore.read_ahead``)."""

    user_id: str
    user_list: str
    """Key of the user's published list (``keys.user_recs``)."""
    popular: tuple[str, ...]
    """Keys of the popular lists to fall back to, in order (the query's category, global)."""
    recent_since: float
    recent_n: int
    trending_n: int
    candidates: int
    """How many of the first list's items to read availability for."""
    similar_prefix: str
    """``keys.similar_items(version, "")``: the recent items' neighbours are read too."""
    coviews_n: int


@dataclass(slots=True)
class _Read:
    """What ``read_ahead`` read: raw list values by key, recent items, trending, availability."""

    spec: ReadAhead
    lists: dict[str, str | None]
    recent: list[Scored]
    neighbours: tuple[list[list[Scored] | None], list[list[Scored]]]
    trending: list[Scored] | None
    info: dict[str, ItemInfo | None] = field(default_factory=dict)
    purchased: set[str] = field(default_factory=set)
    blocked: set[str] = field(default_factory=set)


_TRUE = frozenset(("1", "true", "yes"))


def _int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if value.isdigit():
        return int(value)
    try:
        return int(float(value))
    except ValueError:
        return None


def _item_info(item_id: str, values: list[str | None]) -> ItemInfo | None:
    if values.count(None) == len(values):
        return None
    title, category, brand, price, currency, stock, blocked = values
    return ItemInfo(
        item_id,
        title,
        category,
        brand,
        _int(price),
        currency,
        _int(stock),
        blocked is not None and (blocked in _TRUE or blocked.strip().lower() in _TRUE),
    )


def _scored(raw: bytes | str | None) -> list[Scored] | None:
    """Parse a published JSON ``[[item_id, score], ...]`` list; None when the key is absent."""
    if raw is None:
        return None
    return [(str(item), float(score)) for item, score in orjson.loads(raw)]


def _pairs(flat: list[str]) -> list[Scored]:
    """A ``WITHSCORES`` reply of a script ([member, score, ...]) as (member, score) pairs."""
    return [(str(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2)]


class _Pointer:
    """The cached publication, shared by a store and its per-request views."""

    __slots__ = ("publication", "expires")

    def __init__(self) -> None:
        self.publication: Publication | None = None
        self.expires = 0.0


class OnlineStore:
    """Reads the published recommendation layout and the online item/user features."""

    def __init__(self, redis: aioredis.Redis, pointer_ttl_s: float = 1.0) -> None:
        self.redis = redis
        self.pointer_ttl_s = pointer_ttl_s
        self._pointer = _Pointer()
        self._read: _Read | None = None
        self._availability_script = redis.register_script(AVAILABILITY_LUA)
        self._read_ahead_script = redis.register_script(READ_AHEAD_LUA)
        self._mux: redis_mux.MuxConnection | None = None
        self._mux_url: str | None = None
        self._mux_retry_at = 0.0

    async def open(self, url: str) -> None:
        """Run the scripts over one multiplexed connection to ``url``
        (``serving.recommendations.redis_mux``);
        without one (TLS, an error) they go through the regular client."""
        self._mux_url = url
        self._mux = await self._connect()

    async def aclose(self) -> None:
        if self._mux is not None:
            await self._mux.aclose()

    async def publication(self) -> Publication | None:
        """The current publication, or None when nothing has been published yet."""
        now = time.monotonic()
        pointer = self._pointer
        if now < pointer.expires:
            return pointer.publication
        # the app's client decodes responses (lifespan: decode_responses=True)
        version = cast(str | None, await self.redis.get(keys.PUBLISH_POINTER))
        publication = None
        if version:
            meta = cast(dict[str, str], await self.redis.hgetall(keys.publish_meta(version)))
            publication = Publication(version=version, meta=meta) if meta else None
        pointer.publication, pointer.expires = publication, now + self.pointer_ttl_s
        return publication

    def forget_publication(self) -> None:
        """Drop the cached pointer (the next read goes to Redis)."""
        self._pointer.expires = 0.0

    async def read_ahead(self, spec: ReadAhead) -> OnlineStore:
        """One round trip for what a recommendation request reads first; returns a view of this
        store that answers those reads from memory (for this request only)."""
        fallbacks = spec.popular if len(spec.popular) == 2 else (*spec.popular, *spec.popular)
        reply = await self._run(
            self._read_ahead_script,
            [
                spec.user_list,
                keys.user_recent_items(spec.user_id),
                *fallbacks,
                keys.user_purchased(spec.user_id),
            ],
            [
                spec.recent_since,
                spec.recent_n,
                spec.trending_n,
                min(spec.candidates, MAX_READ_AHEAD),
                spec.similar_prefix,
                spec.coviews_n,
            ],
        )
        user_list, recent, similar, coviews, trending, n_popular, *popular = reply[:8]
        ids, rows, blocked, bought = reply[8:]
        lists = {spec.user_list: user_list}
        for key, value in zip(spec.popular[:n_popular], popular, strict=False):
            lists[key] = value
        neighbours = ([_scored(raw) for raw in similar], [_pairs(flat) for flat in coviews])
        read = _Read(
            spec,
            lists,
            _pairs(recent),
            neighbours,
            None if trending is None else _pairs(trending),
        )
        _collect(ids, [rows, blocked, bought], read.info, read.blocked, read.purchased)
        view = copy.copy(self)
        view._read = read
        return view

    async def lists(self, redis_keys: list[str]) -> list[list[Scored] | None]:
        """Several published JSON lists in one round trip."""
        if not redis_keys:
            return []
        read = self._read
        if read is not None and all(key in read.lists for key in redis_keys):
            return [_scored(read.lists[key]) for key in redis_keys]
        if len(redis_keys) == 1:
            return [_scored(await self.redis.get(redis_keys[0]))]
        return [_scored(raw) for raw in await self.redis.mget(redis_keys)]

    async def user_recs(self, pub: Publication, user_id: str, strategy: str) -> list[Scored] | None:
        return (await self.lists([keys.user_recs(pub.version, user_id, strategy)]))[0]

    async def popular(self, pub: Publication, category: str | None = None) -> list[Scored] | None:
        return (await self.lists([keys.popular(pub.version, category)]))[0]

    async def similar(self, pub: Publication, item_id: str) -> list[Scored] | None:
        return (await self.lists([keys.similar_items(pub.version, item_id)]))[0]

    async def recent_items(self, user_id: str, since: float, n: int) -> list[Scored]:
        """Items the user touched since ``since`` (epoch seconds), latest first, with the time."""
        read = self._read
        if read is not None and read.spec.user_id == user_id and n <= read.spec.recent_n:
            return read.recent[:n]
        rows = await self.redis.zrevrangebyscore(
            keys.user_recent_items(user_id), "+inf", since, start=0, num=n, withscores=True
        )
        return [(str(item), float(at)) for item, at in rows]  # type: ignore[misc]  # withscores=True gives (member, score) pairs; redis-py types members

    async def trending(self, n: int) -> list[Scored]:
        """The top of the decayed trending set."""
        read = self._read
        if read is not None and read.trending is not None and n <= read.spec.trending_n:
            return read.trending[:n]
        rows = await self.redis.zrevrange(keys.TRENDING, 0, n - 1, withscores=True)
        return [(str(item), float(score)) for item, score in rows]  # type: ignore[misc]  # withscores=True gives (member, score) pairs; redis-py types members

    async def neighbours(
        self, pub: Publication, item_ids: list[str], n: int
    ) -> tuple[list[list[Scored] | None], list[list[Scored]]]:
        """Each item's published similar items and its top ``n`` session co-views, in one
        round trip."""
        if not item_ids:
            return [], []
        read = self._read
        if (
            read is not None
            and read.spec.similar_prefix == keys.similar_items(pub.version, "")
            and item_ids == [item for item, _ in read.recent]
            and n <= read.spec.coviews_n
        ):
            similar, coviews = read.neighbours
            return similar, [rows[:n] for rows in coviews]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.mget([keys.similar_items(pub.version, i) for i in item_ids])
            for item_id in item_ids:
                pipe.zrevrange(keys.coviews(item_id), 0, n - 1, withscores=True)
            similar, *coviews = await pipe.execute()
        return (
            [_scored(raw) for raw in similar],
            [[(str(i), float(c)) for i, c in rows] for rows in coviews],
        )

    async def user_history(self, pub: Publication, user_id: str, n: int = 100) -> list[Scored]:
        """The user's strongest batch interactions, strongest first."""
        rows = await self.redis.zrevrange(
            keys.user_history(pub.version, user_id), 0, n - 1, withscores=True
        )
        return [(str(item), float(weight)) for item, weight in rows]  # type: ignore[misc]  # withscores=True gives (member, score) pairs; redis-py types members

    async def item_infos(self, item_ids: list[str]) -> dict[str, ItemInfo | None]:
        if not item_ids:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for item_id in item_ids:
                pipe.hmget(keys.item_info(item_id), ITEM_FIELDS)
            rows = await pipe.execute()
        return {i: _item_info(i, row) for i, row in zip(item_ids, rows, strict=True)}

    async def item_info(self, item_id: str) -> ItemInfo | None:
        return (await self.item_infos([item_id]))[item_id]

    async def availability(self, item_ids: list[str], user_id: str | None) -> Availability:
        """Item info plus "already bought" and "blocked" membership of ``item_ids``: one
        server-side script call (a pipeline of ~3 commands per item costs far more to pack and
        parse on the client), none for items read ahead. The script builds item keys from
        ``keys.item_info``'s prefix, so it needs a standalone Redis (or one cluster slot), like
        the rest of the layout."""
        read = self._read
        if read is not None and read.spec.user_id == user_id:
            missing = [i for i in item_ids if i not in read.info]
            if missing:
                rows = await self._availability_rows(missing, user_id)
                _collect(missing, rows, read.info, read.blocked, read.purchased)
            return Availability(read.info, read.purchased, read.blocked)  # supersets of item_ids
        info: dict[str, ItemInfo | None] = {}
        blocked: set[str] = set()
        purchased: set[str] = set()
        rows = await self._availability_rows(item_ids, user_id)
        _collect(item_ids, rows, info, blocked, purchased)
        return Availability(info, purchased, blocked)

    async def _availability_rows(self, item_ids: list[str], user_id: str | None) -> list[list]:
        if not item_ids:
            return [[], [], []]
        purchased = [keys.user_purchased(user_id)] if user_id is not None else []
        return await self._run(self._availability_script, purchased, item_ids)

    async def _run(self, script: AsyncScript, script_keys: list[str], args: list) -> Any:
        """EVALSHA on the multiplexed connection, else straight through ``execute_command``
        (the script object's wrapper costs a tenth of a request); the script is loaded when the
        server does not know it yet."""
        mux = await self._multiplexed()
        if mux is not None:
            try:
                return await mux.call("EVALSHA", script.sha, len(script_keys), *script_keys, *args)
            except (NoScriptError, RedisConnectionError):
                pass  # the regular client loads the script, or retries on a new connection
        try:
            return await self.redis.execute_command(
                "EVALSHA", script.sha, len(script_keys), *script_keys, *args
            )
        except NoScriptError:
            return await script(keys=script_keys, args=args)

    async def _multiplexed(self) -> redis_mux.MuxConnection | None:
        """The open multiplexed connection; a closed one is replaced at most every few seconds
        (meanwhile the regular client serves)."""
        mux = self._mux
        if mux is not None and not mux.closed:
            return mux
        if self._mux_url is None or time.monotonic() < self._mux_retry_at:
            return None
        self._mux_retry_at = time.monotonic() + MUX_RETRY_S
        self._mux = await self._connect()
        return self._mux

    async def _connect(self) -> redis_mux.MuxConnection | None:
        assert self._mux_url is not None
        try:
            return await redis_mux.connect(self._mux_url)
        except Exception as exc:  # noqa: BLE001 - any failure: the regular client serves
            log.warning("no multiplexed Redis connection: %s", exc)
            return None


def _collect(
    item_ids: list[str],
    reply: list[list],
    info: dict[str, ItemInfo | None],
    blocked: set[str],
    purchased: set[str],
) -> None:
    """Add an availability reply ({fields} per item, blocked flags, bought flags) to the
    collections."""
    rows, blocked_flags, bought_flags = reply
    for item_id, values in zip(item_ids, rows, strict=True):
        info[item_id] = _item_info(item_id, values)
    blocked.update(i for i, flag in zip(item_ids, blocked_flags, strict=True) if flag)
    purchased.update(i for i, flag in zip(item_ids, bought_flags, strict=False) if flag)
