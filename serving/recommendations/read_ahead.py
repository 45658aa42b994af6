"""A recommendation request's first reads in one round trip, planned by its candidate sources.

Each source of ``serving.recommendations.service`` declares the reads it will make
(``CandidateSource.reads``): a published list (``Read.scored_list``), the top of a sorted set
(``Read.top``), the neighbours of the items the previous sorted set read (``Read.neighbours``).
The service puts them in its source order into a ``ReadAhead``; ``READ_AHEAD_LUA`` runs the plan
in that order, skipping a fallback's reads once an earlier read found anything (as the service
skips a fallback once it has candidates), takes the first candidate-bearing read's items as the
first candidates and reads their availability too. ``Prefetched`` keeps the replies, so the
store answers those reads from memory (``OnlineStore.read_ahead``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import orjson

from shopflow.online_store import keys
from shopflow.online_store.codec import (
    ITEM_FIELDS,
    ItemInfo,
    Scored,
    decode_flat_zset,
    decode_item,
    decode_scored,
)

MAX_CANDIDATES = 500
"""At most this many candidates' availability is read ahead (a Lua ``unpack`` has limits)."""


@dataclass(frozen=True, slots=True)
class Read:
    """One read of a plan; build it with ``scored_list``, ``top`` or ``neighbours``."""

    kind: Literal["list", "top", "neighbours"]
    key: str
    """list, top: the key; neighbours: the similar-items key prefix of the version."""
    n: int = 0
    """top: members; neighbours: co-views per item."""
    since: float | None = None
    """top: the lowest score read (None: all)."""
    candidates: bool = False
    """Its items are candidates (their availability is read ahead)."""
    fallback: bool = False
    """Read only while no earlier read found anything (the service sets it for fallbacks)."""

    @classmethod
    def scored_list(cls, key: str, candidates: bool = True) -> Read:
        """A published scored list (``codec.decode_scored``); its items are candidates unless
        told otherwise."""
        return cls("list", key, candidates=candidates)

    @classmethod
    def top(cls, key: str, n: int, since: float | None = None, candidates: bool = False) -> Read:
        return cls("top", key, n, since, candidates)

    @classmethod
    def neighbours(cls, similar_prefix: str, coviews_n: int) -> Read:
        """Each item of the previous ``top`` read: its published similar items (under
        ``similar_prefix``) and its top ``coviews_n`` session co-views."""
        return cls("neighbours", similar_prefix, coviews_n)

    def as_fallback(self) -> Read:
        return replace(self, fallback=True)

    def plan_entry(self) -> list[object]:
        return [
            self.kind,
            self.key,
            self.n,
            "-inf" if self.since is None else repr(self.since),
            self.candidates,
            self.fallback,
        ]


@dataclass(frozen=True, slots=True)
class ReadAhead:
    """A request's reads, in source order, and how many candidates' availability to read."""

    user_id: str | None
    reads: tuple[Read, ...]
    candidates: int

    def plan(self) -> bytes:
        return orjson.dumps([read.plan_entry() for read in self.reads])


def _lua(source: str) -> str:
    """A script with the key layout's constants filled in (as Lua string literals)."""
    constants = {
        "FIELDS": ITEM_FIELDS,
        "ITEM_PREFIX": (keys.item_info(""),),
        "COVIEWS": (keys.coviews(""),),
    }
    for name, values in constants.items():
        assert not any("'" in v or "\\" in v for v in values), values
        source = source.replace(name, ", ".join(f"'{v}'" for v in values))
    return source


# Both scripts build keys from prefixes: every key of the layout shares one hash tag
# (keys.STORE), so in a cluster they run in that one slot, routed there by their first key
# (the blocked set); SMISMEMBER needs Redis 6.2 or later.
AVAILABILITY_LUA = _lua("""
-- KEYS: the blocked set, then the user's purchased and disliked sets (keys.user_exclusions),
-- if any. ARGV: item ids.
-- Returns {{fields} per item, blocked flags, bought flags, disliked flags (flags of the
-- user's sets are empty without a user)}.
local fields = {FIELDS}
local rows = {}
for i = 1, #ARGV do rows[i] = redis.call('HMGET', ITEM_PREFIX .. ARGV[i], unpack(fields)) end
local bought, disliked = {}, {}
if #KEYS > 1 then
  bought = redis.call('SMISMEMBER', KEYS[2], unpack(ARGV))
  disliked = redis.call('SMISMEMBER', KEYS[3], unpack(ARGV))
end
return {rows, redis.call('SMISMEMBER', KEYS[1], unpack(ARGV)), bought, disliked}
""")

READ_AHEAD_LUA = _lua("""
-- KEYS: the blocked set, then the user's purchased and disliked sets, if any. ARGV: 1 the
-- plan (JSON: [kind, key, n, since, candidates, fallback] per read, see ReadAhead), 2 how
-- many candidates to read availability for. Returns {read flags (1: read), values (list:
-- GET; top: [member, score...]; neighbours: {similar lists, co-views}), candidate ids,
-- {fields} per candidate, blocked, bought, disliked}.
local plan, n = cjson.decode(ARGV[1]), tonumber(ARGV[2])
local done, values, ids, found, previous = {}, {}, {}, false, nil
local function take(raw)
  local ok, list = pcall(cjson.decode, raw)
  if not ok or type(list) ~= 'table' then return end
  for i = 1, math.min(n, #list) do
    if type(list[i]) ~= 'table' or list[i][1] == nil then return end
    ids[i] = tostring(list[i][1])
  end
end
for s, r in ipairs(plan) do
  local kind, key, count, candidates = r[1], r[2], r[3], r[5]
  local value = false
  done[s] = 0
  if not (r[6] and found) then
    done[s] = 1
    if kind == 'list' then
      value = redis.call('GET', key)
      if value then
        found = true
        if candidates and #ids == 0 then take(value) end
      end
    elseif kind == 'top' then
      value = redis.call('ZREVRANGEBYSCORE', key, '+inf', r[4], 'WITHSCORES', 'LIMIT', 0, count)
      previous = value
      if #value > 0 then
        found = true
        if candidates and #ids == 0 then
          for i = 1, math.min(n, #value / 2) do ids[i] = value[2 * i - 1] end
        end
      end
    elseif previous then  -- neighbours of the previous top read
      local similar, coviews = {}, {}
      for i = 1, #previous, 2 do
        similar[#similar + 1] = redis.call('GET', key .. previous[i])
        coviews[#coviews + 1] = redis.call(
          'ZREVRANGE', COVIEWS .. previous[i], 0, count - 1, 'WITHSCORES')
      end
      value = {similar, coviews}
    else
      done[s] = 0
    end
  end
  values[s] = value
end
local fields = {FIELDS}
local rows, blocked, bought, disliked = {}, {}, {}, {}
if #ids > 0 then
  for i, item_id in ipairs(ids) do
    rows[i] = redis.call('HMGET', ITEM_PREFIX .. item_id, unpack(fields))
  end
  blocked = redis.call('SMISMEMBER', KEYS[1], unpack(ids))
  if #KEYS > 1 then
    bought = redis.call('SMISMEMBER', KEYS[2], unpack(ids))
    disliked = redis.call('SMISMEMBER', KEYS[3], unpack(ids))
  end
end
return {done, values, ids, rows, blocked, bought, disliked}
""")

Neighbours = tuple[list[list[Scored] | None], list[list[Scored]]]
"""Per item: its published similar items (None: none published) and its session co-views."""


class ItemInfos(dict[str, ItemInfo | None]):
    """Item info by id, each decoded from its hash's values on first use (a request shows
    fewer items than it reads); ``in`` and ``get`` know every item read."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str | None]] = {}

    def __missing__(self, item_id: str) -> ItemInfo | None:
        info = self[item_id] = decode_item(item_id, self.rows[item_id])
        return info

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.rows

    def get(self, item_id: str, default: ItemInfo | None = None) -> ItemInfo | None:  # type: ignore[override]
        return self[item_id] if item_id in self.rows else default


@dataclass(slots=True)
class Prefetched:
    """What a read-ahead read: raw lists by key, sorted-set tops by key (with the lowest score
    and count read), neighbours by similar-items prefix (with the items and co-view count),
    and the first candidates' availability."""

    user_id: str | None
    lists: dict[str, str | None] = field(default_factory=dict)
    tops: dict[str, tuple[float | None, int, list[Scored]]] = field(default_factory=dict)
    neighbours: dict[str, tuple[int, list[str], Neighbours]] = field(default_factory=dict)
    info: ItemInfos = field(default_factory=ItemInfos)
    purchased: set[str] = field(default_factory=set)
    disliked: set[str] = field(default_factory=set)
    blocked: set[str] = field(default_factory=set)

    def top(self, key: str, n: int, since: float | None) -> list[Scored] | None:
        """The first ``n`` members scored at least ``since``, if the read covers them."""
        read = self.tops.get(key)
        if read is None:
            return None
        low, count, members = read
        if n > count or (low is not None and (since is None or since < low)):
            return None
        return [m for m in members if since is None or m[1] >= since][:n]

    def neighbours_of(self, prefix: str, items: list[str], n: int) -> Neighbours | None:
        read = self.neighbours.get(prefix)
        if read is None or read[1] != items or n > read[0]:
            return None
        similar, coviews = read[2]
        return similar, [rows[:n] for rows in coviews]

    def collect(self, item_ids: list[str], reply: list[list]) -> None:
        """Add an availability reply ({fields} per item, blocked, bought and disliked flags)."""
        rows, blocked_flags, bought_flags, disliked_flags = reply
        self.info.rows.update(zip(item_ids, rows, strict=True))
        self.blocked.update(i for i, flag in zip(item_ids, blocked_flags, strict=True) if flag)
        self.purchased.update(i for i, flag in zip(item_ids, bought_flags, strict=False) if flag)
        self.disliked.update(i for i, flag in zip(item_ids, disliked_flags, strict=False) if flag)


def prefetched(spec: ReadAhead, reply: list) -> Prefetched:
    """The ``READ_AHEAD_LUA`` reply of ``spec``, decoded."""
    done, values, ids, rows, blocked, bought, disliked = reply
    out = Prefetched(spec.user_id)
    previous: list[Scored] = []
    for read, flag, value in zip(spec.reads, done, values, strict=True):
        if not flag:
            continue
        if read.kind == "list":
            out.lists[read.key] = value
        elif read.kind == "top":
            previous = decode_flat_zset(value)
            out.tops[read.key] = (read.since, read.n, previous)
        else:
            similar, coviews = value
            neighbours = (
                [decode_scored(raw) for raw in similar],
                [decode_flat_zset(flat) for flat in coviews],
            )
            out.neighbours[read.key] = (read.n, [item for item, _ in previous], neighbours)
    out.collect(ids, [rows, blocked, bought, disliked])
    return out
