"""The online-store reader: every Redis read the recommendation API makes, through
``shopflow.keys``. Reads are pipelined (one round trip per call); the publish pointer and its
meta hash are cached in-process for ``pointer_ttl_s`` seconds."""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

from shopflow import keys

Scored = tuple[str, float]
"""An item id with a score (model score, similarity, popularity or interaction weight)."""

ITEM_FIELDS = ("title", "category", "brand", "price_minor", "currency", "stock", "blocked")
ITEM_INFO_PREFIX = keys.item_info("")

AVAILABILITY_LUA = """
-- KEYS: the blocked set, the user's purchased set. ARGV: 1 when the purchased set applies,
-- the item_info key prefix, then item ids. Returns {fields, blocked, bought} per item.
local out = {}
local fields = {FIELDS}
local check_bought = ARGV[1] == '1'
for i = 3, #ARGV do
  local item_id = ARGV[i]
  local bought = 0
  if check_bought then bought = redis.call('SISMEMBER', KEYS[2], item_id) end
  out[#out + 1] = {
    redis.call('HMGET', ARGV[2] .. item_id, unpack(fields)),
    redis.call('SISMEMBER', KEYS[1], item_id),
    bought,
  }
end
return out
""".replace("FIELDS", ", ".join(f"'{name}'" for name in ITEM_FIELDS))


@dataclass(frozen=True, slots=True)
class Publication:
    """The publish version readers use now, with its meta hash."""

    version: str
    meta: dict[str, str]

    def model_of(self, strategy: str) -> tuple[str | None, str | None]:
        """(registered model name, model version) that produced ``strategy``'s lists."""
        return self.meta.get(f"{strategy}.model"), self.meta.get(f"{strategy}.version")

    @property
    def strategies(self) -> list[str]:
        return sorted(k.removesuffix(".model") for k in self.meta if k.endswith(".model"))

    @property
    def published_at(self) -> str | None:
        return self.meta.get("published_at")


@dataclass(frozen=True, slots=True)
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
    """What the business filters need for a batch of candidate items, read in one trip."""

    info: dict[str, ItemInfo | None]
    purchased: frozenset[str]
    blocked: frozenset[str]


def _int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def _item_info(item_id: str, values: list[str | None]) -> ItemInfo | None:
    if all(v is None for v in values):
        return None
    title, category, brand, price, currency, stock, blocked = values
    return ItemInfo(
        item_id=item_id,
        title=title,
        category=category,
        brand=brand,
        price_minor=_int(price),
        currency=currency,
        stock=_int(stock),
        blocked=(blocked or "").strip().lower() in ("1", "true", "yes"),
    )


def _scored(raw: str | None) -> list[Scored] | None:
    """Parse a published JSON ``[[item_id, score], ...]`` list; None when the key is absent."""
    if raw is None:
        return None
    return [(str(item), float(score)) for item, score in orjson.loads(raw)]


class OnlineStore:
    """Reads the published recommendation layout and the online item/user features."""

    def __init__(self, redis: aioredis.Redis, pointer_ttl_s: float = 1.0) -> None:
        self.redis = redis
        self.pointer_ttl_s = pointer_ttl_s
        self._publication: Publication | None = None
        self._expires = 0.0
        self._availability_script = redis.register_script(AVAILABILITY_LUA)

    async def publication(self) -> Publication | None:
        """The current publication, or None when nothing has been published yet."""
        now = time.monotonic()
        if now < self._expires:
            return self._publication
        version = await self.redis.get(keys.PUBLISH_POINTER)
        publication = None
        if version:
            meta = await self.redis.hgetall(keys.publish_meta(version))
            publication = Publication(version=version, meta=meta) if meta else None
        self._publication, self._expires = publication, now + self.pointer_ttl_s
        return publication

    def forget_publication(self) -> None:
        """Drop the cached pointer (the next read goes to Redis)."""
        self._expires = 0.0

    async def lists(self, redis_keys: list[str]) -> list[list[Scored] | None]:
        """Several published JSON lists in one round trip."""
        if not redis_keys:
            return []
        if len(redis_keys) == 1:
            return [_scored(await self.redis.get(redis_keys[0]))]
        return [_scored(raw) for raw in await self.redis.mget(redis_keys)]

    async def user_recs(self, pub: Publication, user_id: str, strategy: str) -> list[Scored] | None:
        return (await self.lists([keys.user_recs(pub.version, user_id, strategy)]))[0]

    async def popular(self, pub: Publication, category: str | None = None) -> list[Scored] | None:
        return (await self.lists([keys.popular(pub.version, category)]))[0]

    async def similar(self, pub: Publication, item_id: str) -> list[Scored] | None:
        return (await self.lists([keys.similar_items(pub.version, item_id)]))[0]

    async def user_history(self, pub: Publication, user_id: str, n: int = 100) -> list[Scored]:
        """The user's strongest batch interactions, strongest first."""
        rows = await self.redis.zrevrange(
            keys.user_history(pub.version, user_id), 0, n - 1, withscores=True
        )
        return [(str(item), float(weight)) for item, weight in rows]

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
        parse on the client). The script builds item keys from ``keys.item_info``'s prefix, so
        it needs a standalone Redis (or one cluster slot), like the rest of the layout."""
        if not item_ids:
            return Availability({}, frozenset(), frozenset())
        purchased_key = keys.user_purchased(user_id) if user_id is not None else keys.BLOCKED_ITEMS
        rows = await self._availability_script(
            keys=[keys.BLOCKED_ITEMS, purchased_key],
            args=[1 if user_id is not None else 0, ITEM_INFO_PREFIX, *item_ids],
        )
        info, blocked, purchased = {}, set(), set()
        for item_id, (values, is_blocked, is_bought) in zip(item_ids, rows, strict=True):
            info[item_id] = _item_info(item_id, values)
            if is_blocked:
                blocked.add(item_id)
            if is_bought:
                purchased.add(item_id)
        return Availability(info, frozenset(purchased), frozenset(blocked))
