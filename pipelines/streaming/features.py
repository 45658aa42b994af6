"""The ``features`` consumer group: real-time online features and live metrics in Redis.

Exactly once per ``event_id``, per batch:

1. read the batch's applied-marks (``keys.seen_events``: one hash per day, one HMGET per
   day in the batch) and drop the events already applied;
2. turn the rest into a plan of writes (``BatchPlan``), aggregated per key where order does
   not matter (counters, recent items, trending) and kept in order where it does (carts);
3. run the plan in ONE atomic Lua script (``features.lua``) that first re-checks the
   marks (if another consumer applied any meanwhile it writes nothing and we go to 1),
   then applies every write and marks the events (``keys.SEEN_EVENT_TTL_S``).

A crash before the script applies nothing; after it, the marks make a replay a no-op, so
every counter stays exact however often a batch is redelivered. Read-modify-write state
(carts, decayed category affinity, session co-views, the trending reference time) is
updated inside the script, so it is atomic too. Key layout and TTLs: ``shopflow.keys``.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import redis

from pipelines.streaming.runner import Record
from shopflow import events, keys, topics
from shopflow.config import Settings, get_settings

NAME = "features"
TOPICS = (topics.BEHAVIOUR, topics.ORDERS, topics.CATALOG)

#: Behaviour events that "touch" an item: recent items, trending, category affinity.
TOUCH_WEIGHTS: dict[str, float] = {
    t: events.INTERACTION_WEIGHTS[t]
    for t in ("product_view", "rec_click", "wishlist_add", "add_to_cart")
}
PURCHASE_WEIGHT = events.INTERACTION_WEIGHTS["purchase"]
#: Item counters: event type -> metric (order lines count as "purchase").
COUNTED = {"product_view": "view", "add_to_cart": "cart"}
REBASE_HALF_LIVES = 64  # rescale forward-decayed scores before they pass 2**64
CHUNK = 1000  # most members per op (Lua's unpack has a stack limit)
SCRIPT = (Path(__file__).with_name("features.lua")).read_text()


def seen_key(event: events.Envelope) -> str:
    """The hash that marks ``event`` applied (one per UTC day of its time)."""
    return keys.seen_events(NAME, event.occurred_at.date().isoformat())


def _num(x: float) -> str:
    return repr(float(x))


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class BatchPlan:
    """The writes one batch makes, built from its unseen events in consumption order."""

    def __init__(self, settings: Settings, now: float) -> None:
        self.settings = settings
        self.now = now
        self.applied: list[str] = []
        self.recent: dict[str, dict[str, float]] = defaultdict(dict)
        self.counters: Counter[tuple[str, int]] = Counter()  # (key, ttl) -> n
        self.trending: list[tuple[str, float, float]] = []
        self.carts: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.affinity: dict[str, list[tuple[str, str, float, float]]] = defaultdict(list)
        self.sessions: dict[str, list[str]] = defaultdict(list)
        self.purchased: dict[str, set[str]] = defaultdict(set)
        self.item_info: list[tuple[str, dict[str, str]]] = []
        self.live: Counter[tuple[int, str]] = Counter()
        self.live_users: dict[int, set[str]] = defaultdict(set)
        self.catviews: dict[int, Counter[tuple[str, str]]] = defaultdict(Counter)

    def add(self, event: events.Envelope) -> None:
        ts = event.occurred_at.timestamp()
        minute = int(ts // 60)
        user, etype, payload = event.user_id, event.event_type, event.payload
        self.applied.append(event.event_id)
        if user and (etype in events.BEHAVIOUR_EVENTS or etype == "order_placed"):
            self.live_users[minute].add(user)
        item: str | None = payload.__dict__.get("item_id")  # getattr on a model is slow
        if etype in TOUCH_WEIGHTS and item:
            category = payload.__dict__.get("category") or ""
            self._touch(user, item, category, TOUCH_WEIGHTS[etype], ts)
            if etype in COUNTED:
                self._count(item, COUNTED[etype], ts)
            if etype == "product_view":
                self.catviews[minute][(item, category)] += 1
                if event.session_id:
                    self.sessions[event.session_id].append(item)
            if etype == "add_to_cart" and user:
                self.carts[user].append((item, str(payload.quantity)))  # type: ignore[attr-defined]
        elif etype == "remove_from_cart" and user and item:
            self.carts[user].append((item, str(-payload.quantity)))  # type: ignore[attr-defined]
        elif etype == "order_placed":
            self._order(event, ts, minute)
        elif etype.startswith("product."):
            self._catalog(payload)

    def _touch(self, user: str | None, item: str, category: str, weight: float, ts: float) -> None:
        t = min(ts, self.now + 60)  # decay never trusts a clock far ahead
        self.trending.append((item, weight, t))
        if user:
            recent = self.recent[user]
            recent[item] = max(recent.get(item, 0.0), ts)
            self.affinity[user].append((item, category, weight, t))

    def _count(self, item: str, metric: str, ts: float) -> None:
        for window, length in keys.COUNTER_WINDOWS.items():
            key = keys.item_counter(item, metric, window, int(ts // length))
            self.counters[(key, 2 * length)] += 1

    def _order(self, event: events.Envelope, ts: float, minute: int) -> None:
        order: events.OrderPlaced = event.payload  # type: ignore[assignment]
        user = event.user_id
        self.live[(minute, "orders")] += 1
        self.live[(minute, f"revenue_minor:{order.currency}")] += order.total_minor
        for line in order.lines:
            self._count(line.item_id, "purchase", ts)
            self.trending.append((line.item_id, PURCHASE_WEIGHT, min(ts, self.now + 60)))
            if user:
                self.purchased[user].add(line.item_id)
                self.carts[user].append((line.item_id, "x"))
                self.affinity[user].append(
                    (line.item_id, "", PURCHASE_WEIGHT, min(ts, self.now + 60))
                )

    def _catalog(self, payload: events.Payload) -> None:
        if isinstance(payload, events.ProductUpserted):
            fields: dict[str, Any] = payload.model_dump(
                include={"title", "category", "brand", "price_minor", "currency", "stock"}
            )
        elif isinstance(payload, events.ProductPriceChanged):
            fields = {"price_minor": payload.new_price_minor, "currency": payload.currency}
        elif isinstance(payload, events.ProductStockChanged):
            fields = {"stock": payload.new_stock}
        else:
            return
        self.item_info.append((payload.item_id, {k: str(v) for k, v in fields.items()}))

    # ---- the script's ops ----------------------------------------------------------------
    def ops(self) -> list[list[str]]:
        """Catalog first (later category look-ups see it), then everything else."""
        ttl = str(keys.USER_RT_TTL_S)
        ops: list[list[str]] = []
        for item, fields in self.item_info:
            ops.append(["HSET", keys.item_info(item), *(x for kv in fields.items() for x in kv)])
        for (key, key_ttl), n in self.counters.items():
            ops.append(["INCR", key, str(key_ttl), str(n)])
        for user, items in self.recent.items():
            pairs = [x for item, ts in items.items() for x in (item, _num(ts))]
            for part in _chunks(pairs, 2 * CHUNK):
                ops.append(
                    ["RECENT", keys.user_recent_items(user), ttl, str(keys.RECENT_ITEMS_CAP), *part]
                )
        for user, lines in self.carts.items():
            for part in _chunks([x for line in lines for x in line], 2 * CHUNK):
                ops.append(["CART", keys.user_cart(user), ttl, *part])
        for user, adds in self.affinity.items():
            half_life = self.settings.stream_affinity_half_life_s
            head = [
                "AFFINITY",
                keys.user_category_affinity(user),
                keys.user_category_affinity_at(user),
                ttl,
                _num(half_life),
                _num(REBASE_HALF_LIVES * half_life),
            ]
            flat = [x for i, c, w, t in adds for x in (i, c, _num(w), _num(t))]
            ops += [[*head, *part] for part in _chunks(flat, 4 * CHUNK)]
        for user, items in self.purchased.items():
            ops.append(["SADD", keys.user_purchased(user), *sorted(items)])
        ops += self._trending_ops()
        for session, items in self.sessions.items():
            ops += [["COVIEW", keys.session_items(session), *p] for p in _chunks(items, CHUNK)]
        ops += self._live_ops()
        return ops

    def _trending_ops(self) -> list[list[str]]:
        if not self.trending:
            return []
        h = self.settings.stream_trending_half_life_s
        base = math.floor(max(t for _, _, t in self.trending))
        scores: Counter[str] = Counter()
        for item, weight, t in self.trending:
            scores[item] += weight * 2 ** ((t - base) / h)
        head = [
            "TRENDING",
            keys.TRENDING,
            keys.TRENDING_REF,
            _num(h),
            _num(REBASE_HALF_LIVES * h),
            str(keys.TRENDING_CAP),
            str(base),
        ]
        flat = [x for item, score in scores.items() for x in (item, _num(score))]
        return [[*head, *part] for part in _chunks(flat, 2 * CHUNK)]

    def _live_ops(self) -> list[list[str]]:
        ttl = str(keys.LIVE_METRICS_TTL_S)
        ops = [
            ["INCR", keys.live_metric(m, metric), ttl, str(n)]
            for (m, metric), n in self.live.items()
        ]
        for minute, users in self.live_users.items():
            for part in _chunks(sorted(users), CHUNK):
                ops.append(["PFADD", keys.live_active_users(minute), ttl, *part])
        for minute, views in self.catviews.items():
            flat = [x for (item, cat), n in views.items() for x in (item, cat, str(n))]
            for part in _chunks(flat, 3 * CHUNK):
                ops.append(["CATVIEWS", keys.live_category_views(minute), ttl, *part])
        return ops


class FeaturesProcessor:
    """The consumer group's processor (see ``runner.Processor``)."""

    name = NAME
    topics = TOPICS

    def __init__(self, client: redis.Redis, settings: Settings | None = None) -> None:
        self.redis = client
        self.settings = settings or get_settings()
        self._script = client.register_script(SCRIPT)
        self._cfg = {
            "item_prefix": keys.item_info(""),
            "coview_prefix": keys.coviews(""),
            "coview_cap": str(keys.COVIEWS_CAP),
            "coview_ttl": str(keys.COVIEWS_TTL_S),
            "session_cap": str(keys.SESSION_ITEMS_CAP),
            "session_ttl": str(keys.SESSION_TTL_S),
            "categories_cap": str(keys.USER_CATEGORIES_CAP),
        }

    def process(self, records: list[Record]) -> int:
        return self.apply(r.event for r in records)

    def apply(self, evs: Iterable[events.Envelope]) -> int:
        """Apply events exactly once each. Returns how many were new."""
        unique: dict[str, events.Envelope] = {}
        for event in evs:
            unique.setdefault(event.event_id, event)
        batch = list(unique.values())
        for _ in range(20):
            applied = self._apply_once(batch)
            if applied is not None:
                return applied
        raise RuntimeError("features batch kept conflicting with another consumer")

    def _apply_once(self, batch: list[events.Envelope]) -> int | None:
        if not batch:
            return 0
        days: dict[str, list[events.Envelope]] = defaultdict(list)
        for event in batch:
            days[seen_key(event)].append(event)
        pipe = self.redis.pipeline(transaction=False)
        for key, day_events in days.items():
            pipe.hmget(key, [e.event_id for e in day_events])
        applied = {
            e.event_id
            for day_events, marks in zip(days.values(), pipe.execute(), strict=True)
            for e, mark in zip(day_events, marks, strict=True)
            if mark is not None
        }
        plan = BatchPlan(self.settings, time.time())
        seen: dict[str, list[str]] = defaultdict(list)
        for event in batch:
            if event.event_id not in applied:
                plan.add(event)
                seen[seen_key(event)].append(event.event_id)
        if not plan.applied:
            return 0
        body = {
            "seen": seen,
            "seen_ttl": str(keys.SEEN_EVENT_TTL_S),
            "cfg": self._cfg,
            "ops": plan.ops(),
        }
        done = self._script(args=[orjson.dumps(body)])
        return len(plan.applied) if int(done) == 1 else None

    def durable(self) -> bool:
        return True  # every batch is in Redis before process() returns

    def tick(self) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
