"""The ``features`` consumer group: real-time online features and live metrics in Redis.

Exactly once per ``event_id``, per batch:

1. after a refusal (step 3), read the batch's applied-marks (``keys.seen_events``: one hash
   per UTC day, one HMGET per day) and drop the events already applied (redeliveries);
   the first try skips this round trip, since redeliveries are rare;
2. aggregate the rest in Python (``BatchPlan``), so Redis work is per distinct key, not per
   event: counters summed per (metric, window bucket, item), trending scores per item and
   affinity scores per (user, item) (forward decay), recent items reduced to each user's
   newest ``RECENT_ITEMS_CAP``, cart changes folded per (user, item) into one step, each
   session's new views, active users, live metrics and views per minute and item;
3. run the plan in ONE Lua script (``features.lua``) that first re-checks the marks (if
   another consumer applied any meanwhile it writes nothing and we go to 1), then applies
   every write and marks the events (``keys.SEEN_EVENT_TTL_S``). It reads each item's
   category from ``keys.item_info`` once per batch, after the batch's catalog changes, and
   sums affinities and views per category. Per user it costs one HMGET and one HSET of
   ``keys.user_features`` (affinity, cart, the views of the user's sessions, bookkeeping)
   and one ZADD of ``keys.user_recent_items``; TTLs are renewed only when half gone.
   Anonymous sessions keep their views in ``keys.session_items``. The script is
   deterministic (its header says how), so ``script_logging`` has Redis 6.2 log it as one
   call, not as its writes.

A crash before the script applies nothing; after it, the marks make a replay a no-op, so
every counter stays exact however often a batch is redelivered. Read-modify-write state
(carts, session co-views, decay reference times) is handled inside the script, so it is
atomic too. Steps 1-2 are ``prepare`` and step 3 ``apply_prepared`` (a
``runner.StagedProcessor``): the runner applies batch N in Redis while it decodes and
plans batch N+1. Key layout and TTLs: ``shopflow.online_store.keys``; values: ``codec``.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from pipelines.streaming.runner import Record
from shopflow import events, topics
from shopflow.config import Settings, get_settings
from shopflow.online_store import codec, connect, keys, script_logging

NAME = "features"
#: payments: a lost dispute takes its amount back out of the live revenue
TOPICS: tuple[topics.Topic, ...] = (
    topics.BEHAVIOUR, topics.ORDERS, topics.CATALOG, topics.PAYMENTS,
)  # fmt: skip

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
#: The item hash fields a catalog event carries (an admin decides ``blocked``).
CATALOG_FIELDS = set(codec.ITEM_FIELDS) - {"blocked"}
_ACTIVE = frozenset((*events.BEHAVIOUR_EVENTS, "order_placed"))  # events of active users


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


class _User:
    """One user's share of a batch: touched items' newest times, item scores for the
    category affinity, folded cart steps per item, each session's views (ordered sets)."""

    __slots__ = ("recent", "affinity", "cart", "sessions")

    def __init__(self) -> None:
        self.recent: dict[str, float] = {}
        self.affinity: dict[str, float] = {}
        self.cart: dict[str, list[Any]] = {}
        self.sessions: dict[str, dict[str, None]] = {}

    def flat(self, user: str, out: list[Any]) -> None:
        """Append the script's entry: user id, then four counted runs: [ts item ...] (the
        newest RECENT_ITEMS_CAP), [item score ...] (affinity, summed per category by the
        script), [cart field add floor ...] (add "x": bought), [session field n item ...]."""
        touched = self.recent
        if len(touched) > keys.RECENT_ITEMS_CAP:  # only the newest can stay
            touched = dict(heapq.nlargest(keys.RECENT_ITEMS_CAP, touched.items(), key=_second))
        out += (user, 2 * len(touched))
        for item, ts in touched.items():
            out += (repr(ts), item)  # as text: the script passes it on unparsed
        affinity = self.affinity
        out.append(2 * len(affinity))
        for kv in affinity.items():
            out += kv
        out.append(3 * len(self.cart))
        if self.cart:
            cart_field = keys.USER_CART_FIELD
            for item, (add, floor) in self.cart.items():
                out += (cart_field + item, "x" if add is None else add, floor)
        run = _session_run(self.sessions, keys.USER_SESSION_FIELD)
        out.append(len(run))
        out += run


def _session_run(sessions: dict[str, dict[str, None]], prefix: str) -> list[Any]:
    """[prefix + session, n, item ...] per session (its first SESSION_ITEMS_CAP new views)."""
    run: list[Any] = []
    for session, viewed in sessions.items():
        items = list(viewed)[: keys.SESSION_ITEMS_CAP]
        run += (prefix + session, len(items), *items)
    return run


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
        self.counts: dict[tuple[str, str, int], dict[str, int]] = defaultdict(dict)
        self.trending: dict[str, float] = {}
        self.users: dict[str, _User] = {}
        self.bought: dict[str, set[str]] = defaultdict(set)
        self.sessions: dict[str, dict[str, None]] = {}  # anonymous sessions' views
        self.live: Counter[tuple[int, str]] = Counter()
        self.active: dict[int, set[str]] = defaultdict(set)
        self.catviews: dict[int, dict[str, int]] = defaultdict(dict)

    def _user(self, user: str) -> _User:
        state = self.users.get(user)
        if state is None:
            state = self.users[user] = _User()
        return state

    def add(self, event: events.Envelope, day_key: str) -> None:
        self.applied += 1
        self.seen[day_key].append(event.event_id)
        ts = event.occurred_at.timestamp()
        minute = int(ts // 60)
        user, etype, payload = event.user_id, event.event_type, event.payload
        if user and etype in _ACTIVE:
            self.active[minute].add(user)
        item: str | None = payload.__dict__.get("item_id")  # getattr on a model is slow
        if etype in TOUCH_WEIGHTS and item:
            self._touch(user, item, TOUCH_WEIGHTS[etype], ts)
            if etype in COUNTED:
                self._count(item, COUNTED[etype], ts)
            if etype == "product_view":
                views = self.catviews[minute]
                views[item] = views.get(item, 0) + 1
                if event.session_id:
                    owner = self.users[user].sessions if user else self.sessions
                    viewed = owner.get(event.session_id)
                    if viewed is None:
                        viewed = owner[event.session_id] = {}
                    viewed[item] = None
            elif etype == "add_to_cart" and user:
                self._cart(user, item, payload.quantity)  # type: ignore[attr-defined]  # the event type picks the payload model (AddToCart, RemoveFromCart)
        elif etype == "remove_from_cart" and user and item:
            self._cart(user, item, -payload.quantity)  # type: ignore[attr-defined]  # the event type picks the payload model (AddToCart, RemoveFromCart)
        elif etype == "order_placed":
            self._order(event, ts, minute)
        elif etype == "order_paid":  # revenue counts paid orders only
            paid: events.OrderStatusChanged = payload  # type: ignore[assignment]  # order_paid carries OrderStatusChanged
            self.live[(minute, "paid_orders")] += 1
            self.live[(minute, f"revenue_minor:{paid.currency}")] += paid.total_minor
        elif etype == "payment.dispute_closed" and payload.status == "CHARGED_BACK":  # type: ignore[attr-defined]  # a PaymentEvent
            lost: events.PaymentEvent = payload  # type: ignore[assignment]  # payment.* carries PaymentEvent
            self.live[(minute, f"revenue_minor:{lost.currency}")] -= lost.disputed_minor
        elif etype.startswith("product."):
            self._catalog(payload)

    def _touch(self, user: str | None, item: str, weight: float, ts: float) -> None:
        t = min(ts, self.latest) - self.base
        trending = self.trending
        trending[item] = trending.get(item, 0.0) + weight * 2 ** (t / self.trend_h)
        if user:
            state = self._user(user)
            recent = state.recent
            if ts > recent.get(item, 0.0):
                recent[item] = ts
            scores = state.affinity
            scores[item] = scores.get(item, 0.0) + weight * 2 ** (t / self.affinity_h)

    def _count(self, item: str, metric: str, ts: float) -> None:
        counts = self.counts
        for window, length in _WINDOWS:
            per_item = counts[(metric, window, int(ts // length))]
            per_item[item] = per_item.get(item, 0) + 1

    def _cart(self, user: str, item: str, delta: int | None) -> None:
        cart = self._user(user).cart
        cart[item] = _fold_cart(cart.get(item), delta)

    def _order(self, event: events.Envelope, ts: float, minute: int) -> None:
        order: events.OrderPlaced = event.payload  # type: ignore[assignment]  # order_placed carries OrderPlaced
        user = event.user_id
        self.live[(minute, "orders")] += 1
        t = min(ts, self.latest) - self.base
        for line in order.lines:
            self._count(line.item_id, "purchase", ts)
            trend = PURCHASE_WEIGHT * 2 ** (t / self.trend_h)
            self.trending[line.item_id] = self.trending.get(line.item_id, 0.0) + trend
            if user:
                self.bought[user].add(line.item_id)
                self._cart(user, line.item_id, None)
                scores = self._user(user).affinity
                score = PURCHASE_WEIGHT * 2 ** (t / self.affinity_h)
                scores[line.item_id] = scores.get(line.item_id, 0.0) + score

    def _catalog(self, payload: events.Payload) -> None:
        if isinstance(payload, events.ProductUpserted):
            fields: dict[str, Any] = payload.model_dump(include=CATALOG_FIELDS)
        elif isinstance(payload, events.ProductPriceChanged):
            fields = {"price_minor": payload.new_price_minor, "currency": payload.currency}
        elif isinstance(payload, events.ProductStockChanged):
            fields = {"stock": payload.new_stock}
        else:
            return
        self.info.setdefault(payload.item_id, {}).update(codec.encode_item(fields))

    # ---- the script's argument ------------------------------------------------------------
    def body(self, cfg: orjson.Fragment) -> dict[str, Any]:
        """The JSON argument of ``features.lua``: one entry per distinct key; ``cfg`` is the
        processor's settings, serialized once."""
        counts = []
        for (metric, window, bucket), per_item in self.counts.items():
            key, ttl = keys.item_counts(metric, window, bucket), 2 * keys.COUNTER_WINDOWS[window]
            counts.append([key, ttl, *(x for kv in per_item.items() for x in kv)])
        users: list[Any] = []
        for user, state in self.users.items():
            state.flat(user, users)
        catviews = [
            [keys.live_category_views(minute), *(x for kv in views.items() for x in kv)]
            for minute, views in self.catviews.items()
        ]
        return {
            "cfg": cfg,
            "base": self.base,
            "seen": self.seen,
            "info": [
                [keys.item_info(item), *(x for kv in fields.items() for x in kv)]
                for item, fields in self.info.items()
            ],
            "counts": counts,
            "users": users,
            "bought": [
                [keys.user_purchased(user), *part]
                for user, items in self.bought.items()
                for part in _chunks(sorted(items), CHUNK)
            ],
            "trending": [x for kv in self.trending.items() for x in kv],
            "sessions": _session_run(self.sessions, ""),
            "live": [[keys.live_metric(m, metric), n] for (m, metric), n in self.live.items()],
            "active": [
                [keys.live_active_users(minute), *part]
                for minute, users in self.active.items()
                for part in _chunks(sorted(users), CHUNK)
            ],
            "catviews": catviews,
        }


def _around(key: Callable[[str], str]) -> list[str]:
    """[prefix, suffix] of a key pattern around its id (the script builds keys from ids)."""
    prefix, suffix = key("\0").split("\0")
    return [prefix, suffix]


def _second(pair: tuple[str, float]) -> float:
    return pair[1]


class Prepared(NamedTuple):
    """A batch's distinct events, their mark keys, and the script's argument (None: no
    new event) applying ``applied`` of them."""

    batch: list[events.Envelope]
    seen_keys: list[str]
    body: bytes | None
    applied: int


class FeaturesProcessor:
    """The consumer group's processor (see ``runner.StagedProcessor``)."""

    name = NAME
    topics = TOPICS

    def __init__(self, client: connect.SyncClient, settings: Settings | None = None) -> None:
        self.redis = client
        self.settings = settings or get_settings()
        self.clock: Callable[[], float] = time.time  # epoch seconds; TTL-like state ages by it
        self._script = script_logging.LoggedAsItself(client, SCRIPT)
        s = self.settings
        cfg = {  # names and limits from keys, codec and settings; serialized once
            "affinity_field": keys.USER_AFFINITY_FIELD,
            "info_key": _around(keys.item_info),
            "category_field": codec.CATEGORY_FIELD,
            "user_key": _around(keys.user_features),
            "recent_key": _around(keys.user_recent_items),
            "session_key": _around(keys.session_items),
            "coview_prefix": keys.coviews(""),
            "coview_cap": keys.COVIEWS_CAP,
            "coview_ttl": keys.COVIEWS_TTL_S,
            "session_cap": keys.SESSION_ITEMS_CAP,
            "session_field": keys.USER_SESSION_FIELD,
            "sessions_cap": keys.USER_SESSIONS_CAP,
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
        self._cfg = orjson.Fragment(orjson.dumps(cfg))

    def process(self, records: list[Record]) -> int:
        return self.apply_prepared(self.prepare(records))

    def apply(self, evs: Iterable[events.Envelope]) -> int:
        """Apply events exactly once each. Returns how many were new."""
        return self.apply_prepared(self._prepare(evs))

    def prepare(self, records: list[Record]) -> Prepared:
        return self._prepare(r.event for r in records)

    def apply_prepared(self, prepared: Prepared) -> int:
        """Run the optimistic plan; if the script refuses it (some events were applied
        meanwhile), re-read the marks and plan again."""
        if prepared.body is None:
            return 0
        if self._run(prepared.body):
            return prepared.applied
        for _ in range(20):
            again = self._plan(prepared.batch, prepared.seen_keys, read_marks=True)
            if again.body is None:
                return 0
            if self._run(again.body):
                return again.applied
        raise RuntimeError("features batch kept conflicting with another consumer")

    def _run(self, body: bytes) -> bool:
        """Run the script on a plan; False: some event was applied meanwhile. Every key it
        touches carries the layout's hash tag: the one key named routes it to that slot.
        The marks hold this clock's time of sending (the script reads no clock of its own)."""
        sent_ms = str(int(self.clock() * 1000))
        return int(self._script(keys=[keys.TRENDING], args=[body, sent_ms])) == 1

    def _prepare(self, evs: Iterable[events.Envelope]) -> Prepared:
        """The optimistic plan (redeliveries are rare: the marks are not read)."""
        unique: dict[str, events.Envelope] = {}
        for event in evs:
            unique.setdefault(event.event_id, event)
        batch = list(unique.values())  # consumption order (carts depend on it)
        day_keys: dict[Any, str] = {}  # date -> seen key (one isoformat per day, not per event)
        seen_keys = [
            day_keys.get(day) or day_keys.setdefault(day, keys.seen_events(NAME, str(day)))
            for day in (e.occurred_at.date() for e in batch)
        ]
        return self._plan(batch, seen_keys, read_marks=False)

    def _plan(
        self, batch: list[events.Envelope], seen_keys: list[str], read_marks: bool
    ) -> Prepared:
        applied = self._marked(batch, seen_keys) if read_marks and batch else set()
        plan = BatchPlan(self.settings, self.clock())
        for event, key in zip(batch, seen_keys, strict=True):
            if event.event_id not in applied:
                plan.add(event, key)
        body = orjson.dumps(plan.body(self._cfg)) if plan.applied else None
        return Prepared(batch, seen_keys, body, plan.applied)

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
