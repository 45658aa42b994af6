"""The ``features`` consumer group: real-time online features and live metrics in Redis.

Exactly once per ``event_id``, per batch:

1. after a refusal (step 3), read the batch's applied-marks (``keys.seen_events``: one hash
   per UTC day, one HMGET per day) and drop the events already applied (redeliveries);
   the first try skips this round trip, since redeliveries are rare;
2. aggregate the rest in Python (``BatchPlan``), so Redis work is per distinct key, not per
   event: counters summed per (metric, window bucket, item), trending and affinity scores
   summed per item (forward decay), recent items reduced to each user's newest
   ``RECENT_ITEMS_CAP``, cart changes folded per (user, item) into one step, each
   session's new views, active users and live metrics per minute;
3. run the plan in ONE Lua script (``features.lua``) that first re-checks the marks (if
   another consumer applied any meanwhile it writes nothing and we go to 1), then applies
   every write and marks the events (``keys.SEEN_EVENT_TTL_S``).

A crash before the script applies nothing; after it, the marks make a replay a no-op, so
every counter stays exact however often a batch is redelivered. Read-modify-write state
(carts, category look-ups, session co-views, decay reference times) is handled inside the
script, so it is atomic too. Key layout and TTLs: ``shopflow.keys``.
"""

from __future__ import annotations

import heapq
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
CHUNK = 1000  # most members per variadic command (Lua's unpack has a stack limit)
FUTURE_SLACK_S = 60  # decay never trusts an event clock further ahead than this
SCRIPT = (Path(__file__).with_name("features.lua")).read_text()
_WINDOWS = tuple(keys.COUNTER_WINDOWS.items())


def seen_key(event: events.Envelope) -> str:
    """The hash that marks ``event`` applied (one per UTC day of its time)."""
    return keys.seen_events(NAME, event.occurred_at.date().isoformat())


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _fold_cart(step: list[Any] | None, delta: int | None) -> list[Any]:
    """Compose cart changes: ``[add, floor]`` maps a quantity q to max(q + add, floor)
    (``add`` None: the line was bought, q -> floor). A change of ``delta`` (None: bought)
    then drops the line at or below 0, i.e. q -> max(q + delta, 0)."""
    add, floor = step if step is not None else (0, None)
    if delta is None:
        return [None, 0]
    add = None if add is None else add + delta
    return [add, max(floor + delta, 0) if floor is not None else 0]


class BatchPlan:
    """One batch's unseen events, aggregated per Redis key (see the module doc)."""

    def __init__(self, settings: Settings, now: float) -> None:
        self.settings = settings
        self.base = math.floor(now)  # decayed scores are expressed at this time
        self.latest = now + FUTURE_SLACK_S
        self.trend_h = settings.stream_trending_half_life_s
        self.affinity_h = settings.stream_affinity_half_life_s
        self.applied = 0
        self.seen: dict[str, list[str]] = defaultdict(list)
        self.info: dict[str, dict[str, str]] = {}
        self.counts: dict[tuple[str, str, int], Counter[str]] = defaultdict(Counter)
        self.trending: Counter[str] = Counter()
        self.recent: dict[str, dict[str, float]] = defaultdict(dict)
        self.affinity: dict[str, dict[str, float]] = defaultdict(dict)  # user -> item -> score
        self.carts: dict[tuple[str, str], list[Any]] = {}
        self.bought: dict[str, set[str]] = defaultdict(set)
        self.sessions: dict[str, dict[str, None]] = defaultdict(dict)  # ordered sets
        self.live: Counter[tuple[int, str]] = Counter()
        self.users: dict[int, set[str]] = defaultdict(set)
        self.catviews: dict[int, Counter[str]] = defaultdict(Counter)

    def add(self, event: events.Envelope, day_key: str) -> None:
        self.applied += 1
        self.seen[day_key].append(event.event_id)
        ts = event.occurred_at.timestamp()
        minute = int(ts // 60)
        user, etype, payload = event.user_id, event.event_type, event.payload
        if user and (etype in events.BEHAVIOUR_EVENTS or etype == "order_placed"):
            self.users[minute].add(user)
        item: str | None = payload.__dict__.get("item_id")  # getattr on a model is slow
        if etype in TOUCH_WEIGHTS and item:
            self._touch(user, item, TOUCH_WEIGHTS[etype], ts)
            if etype in COUNTED:
                self._count(item, COUNTED[etype], ts)
            if etype == "product_view":
                self.catviews[minute][item] += 1
                if event.session_id:
                    self.sessions[event.session_id][item] = None
            elif etype == "add_to_cart" and user:
                self._cart(user, item, payload.quantity)  # type: ignore[attr-defined]
        elif etype == "remove_from_cart" and user and item:
            self._cart(user, item, -payload.quantity)  # type: ignore[attr-defined]
        elif etype == "order_placed":
            self._order(event, ts, minute)
        elif etype.startswith("product."):
            self._catalog(payload)

    def _touch(self, user: str | None, item: str, weight: float, ts: float) -> None:
        t = min(ts, self.latest) - self.base
        self.trending[item] += weight * 2 ** (t / self.trend_h)
        if user:
            recent = self.recent[user]
            if ts > recent.get(item, 0.0):
                recent[item] = ts
            scores = self.affinity[user]
            scores[item] = scores.get(item, 0.0) + weight * 2 ** (t / self.affinity_h)

    def _count(self, item: str, metric: str, ts: float) -> None:
        for window, length in _WINDOWS:
            self.counts[(metric, window, int(ts // length))][item] += 1

    def _cart(self, user: str, item: str, delta: int | None) -> None:
        self.carts[(user, item)] = _fold_cart(self.carts.get((user, item)), delta)

    def _order(self, event: events.Envelope, ts: float, minute: int) -> None:
        order: events.OrderPlaced = event.payload  # type: ignore[assignment]
        user = event.user_id
        self.live[(minute, "orders")] += 1
        self.live[(minute, f"revenue_minor:{order.currency}")] += order.total_minor
        t = min(ts, self.latest) - self.base
        for line in order.lines:
            self._count(line.item_id, "purchase", ts)
            self.trending[line.item_id] += PURCHASE_WEIGHT * 2 ** (t / self.trend_h)
            if user:
                self.bought[user].add(line.item_id)
                self._cart(user, line.item_id, None)
                scores = self.affinity[user]
                score = PURCHASE_WEIGHT * 2 ** (t / self.affinity_h)
                scores[line.item_id] = scores.get(line.item_id, 0.0) + score

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
        self.info.setdefault(payload.item_id, {}).update({k: str(v) for k, v in fields.items()})

    # ---- the script's argument ------------------------------------------------------------
    def body(self, cfg: dict[str, Any]) -> dict[str, Any]:
        """The JSON argument of ``features.lua``: one entry per distinct key."""
        counts = []
        for (metric, window, bucket), per_item in self.counts.items():
            key, ttl = keys.item_counts(metric, window, bucket), 2 * keys.COUNTER_WINDOWS[window]
            counts.append([key, ttl, *(x for kv in per_item.items() for x in kv)])
        recent = []
        for user, touched in self.recent.items():
            if len(touched) > keys.RECENT_ITEMS_CAP:  # only the newest can stay
                newest = heapq.nlargest(keys.RECENT_ITEMS_CAP, touched.items(), key=_second)
                touched = dict(newest)
            flat = [x for item, ts in touched.items() for x in (ts, item)]
            recent.append([keys.user_recent_items(user), *flat])
        carts: dict[str, list[Any]] = defaultdict(list)
        for (user, item), (add, floor) in self.carts.items():
            carts[keys.user_cart(user)] += (item, "x" if add is None else add, floor)
        return {
            "cfg": cfg,
            "base": self.base,
            "seen": self.seen,
            "info": [
                [keys.item_info(item), *(x for kv in fields.items() for x in kv)]
                for item, fields in self.info.items()
            ],
            "counts": counts,
            "recent": recent,
            "carts": [[key, *ops] for key, ops in carts.items()],
            "bought": [
                [keys.user_purchased(user), *part]
                for user, items in self.bought.items()
                for part in _chunks(sorted(items), CHUNK)
            ],
            "affinity": [
                [
                    keys.user_category_affinity(user),
                    keys.user_category_affinity_at(user),
                    *(x for kv in scores.items() for x in kv),
                ]
                for user, scores in self.affinity.items()
            ],
            "trending": [x for kv in self.trending.items() for x in kv],
            "sessions": [
                [keys.session_items(session), *list(items)[: keys.SESSION_ITEMS_CAP]]
                for session, items in self.sessions.items()
            ],
            "live": [[keys.live_metric(m, metric), n] for (m, metric), n in self.live.items()],
            "users": [
                [keys.live_active_users(minute), *part]
                for minute, users in self.users.items()
                for part in _chunks(sorted(users), CHUNK)
            ],
            "catviews": [
                [keys.live_category_views(minute), *(x for kv in views.items() for x in kv)]
                for minute, views in self.catviews.items()
            ],
        }


def _second(pair: tuple[str, float]) -> float:
    return pair[1]


class FeaturesProcessor:
    """The consumer group's processor (see ``runner.Processor``)."""

    name = NAME
    topics = TOPICS

    def __init__(self, client: redis.Redis, settings: Settings | None = None) -> None:
        self.redis = client
        self.settings = settings or get_settings()
        self._script = client.register_script(SCRIPT)
        s = self.settings
        self._cfg = {
            "item_prefix": keys.item_info(""),
            "coview_prefix": keys.coviews(""),
            "coview_cap": keys.COVIEWS_CAP,
            "coview_ttl": keys.COVIEWS_TTL_S,
            "session_cap": keys.SESSION_ITEMS_CAP,
            "session_ttl": keys.SESSION_TTL_S,
            "categories_cap": keys.USER_CATEGORIES_CAP,
            "recent_cap": keys.RECENT_ITEMS_CAP,
            "user_ttl": keys.USER_RT_TTL_S,
            "live_ttl": keys.LIVE_METRICS_TTL_S,
            "seen_ttl": keys.SEEN_EVENT_TTL_S,
            "affinity_half_life": s.stream_affinity_half_life_s,
            "affinity_rebase": REBASE_HALF_LIVES * s.stream_affinity_half_life_s,
            "trending": keys.TRENDING,
            "trending_ref": keys.TRENDING_REF,
            "trending_cap": keys.TRENDING_CAP,
            "trending_half_life": s.stream_trending_half_life_s,
            "trending_rebase": REBASE_HALF_LIVES * s.stream_trending_half_life_s,
        }

    def process(self, records: list[Record]) -> int:
        return self.apply(r.event for r in records)

    def apply(self, evs: Iterable[events.Envelope]) -> int:
        """Apply events exactly once each. Returns how many were new."""
        unique: dict[str, events.Envelope] = {}
        for event in evs:
            unique.setdefault(event.event_id, event)
        batch = list(unique.values())  # consumption order (carts depend on it)
        day_keys: dict[Any, str] = {}  # date -> seen key (one isoformat per day, not per event)
        seen_keys = [
            day_keys.get(day) or day_keys.setdefault(day, keys.seen_events(NAME, str(day)))
            for day in (e.occurred_at.date() for e in batch)
        ]
        for attempt in range(20):  # optimistic first: redeliveries are rare
            applied = self._apply_once(batch, seen_keys, read_marks=attempt > 0)
            if applied is not None:
                return applied
        raise RuntimeError("features batch kept conflicting with another consumer")

    def _apply_once(
        self, batch: list[events.Envelope], seen_keys: list[str], read_marks: bool
    ) -> int | None:
        if not batch:
            return 0
        applied = self._marked(batch, seen_keys) if read_marks else set()
        plan = BatchPlan(self.settings, time.time())
        for event, key in zip(batch, seen_keys, strict=True):
            if event.event_id not in applied:
                plan.add(event, key)
        if not plan.applied:
            return 0
        done = self._script(args=[orjson.dumps(plan.body(self._cfg))])
        return plan.applied if int(done) == 1 else None

    def _marked(self, batch: list[events.Envelope], seen_keys: list[str]) -> set[str]:
        """The ids of ``batch`` already marked applied (one HMGET per day)."""
        ids: dict[str, list[str]] = defaultdict(list)
        for event, key in zip(batch, seen_keys, strict=True):
            ids[key].append(event.event_id)
        pipe = self.redis.pipeline(transaction=False)
        for key, day_ids in ids.items():
            pipe.hmget(key, day_ids)
        return {
            event_id
            for day_ids, marks in zip(ids.values(), pipe.execute(), strict=True)
            for event_id, mark in zip(day_ids, marks, strict=True)
            if mark is not None
        }

    def durable(self) -> bool:
        return True  # every batch is in Redis before process() returns

    def tick(self) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
