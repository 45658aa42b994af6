"""The features computed in plain Python from the same events: what Redis must hold."""

from __future__ import annotations

from collections import Counter, defaultdict

from shopflow import events
from shopflow.online_store import keys


def counters(evs: list[events.Envelope]) -> Counter[tuple[str, str]]:
    """(counts hash key, item) -> count, every metric, window and bucket."""
    out: Counter[tuple[str, str]] = Counter()
    for event in evs:
        ts = event.occurred_at.timestamp()
        metric = {"product_view": "view", "add_to_cart": "cart"}.get(event.event_type)
        items = [event.payload.item_id] if metric else []  # type: ignore[attr-defined]
        if event.event_type == "order_placed":
            metric = "purchase"
            items = [line.item_id for line in event.payload.lines]  # type: ignore[attr-defined]
        for item in items:
            for window, length in keys.COUNTER_WINDOWS.items():
                out[(keys.item_counts(metric, window, int(ts // length)), item)] += 1
    return out


def live(evs: list[events.Envelope]) -> Counter[str]:
    """Live metric key -> value (orders placed; paid orders and their revenue per minute and
    currency)."""
    out: Counter[str] = Counter()
    for event in evs:
        minute = int(event.occurred_at.timestamp() // 60)
        if event.event_type == "order_placed":
            out[keys.live_metric(minute, "orders")] += 1
        elif event.event_type == "order_paid":
            out[keys.live_metric(minute, "paid_orders")] += 1
            currency = event.payload.currency  # type: ignore[attr-defined]
            revenue = event.payload.total_minor  # type: ignore[attr-defined]
            out[keys.live_metric(minute, f"revenue_minor:{currency}")] += revenue
    return out


def carts(evs: list[events.Envelope]) -> dict[str, dict[str, int]]:
    """User -> item -> quantity, replaying each user's events in order."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for event in evs:
        cart, p = out[event.user_id or ""], event.payload
        if event.event_type == "add_to_cart":
            cart[p.item_id] = cart.get(p.item_id, 0) + p.quantity  # type: ignore[attr-defined]
        elif event.event_type == "remove_from_cart":
            left = cart.get(p.item_id, 0) - p.quantity  # type: ignore[attr-defined]
            if left > 0:
                cart[p.item_id] = left  # type: ignore[attr-defined]
            else:
                cart.pop(p.item_id, None)  # type: ignore[attr-defined]
        elif event.event_type == "order_placed":
            for line in p.lines:  # type: ignore[attr-defined]
                cart.pop(line.item_id, None)
    return {user: cart for user, cart in out.items() if cart}


def coviews(evs: list[events.Envelope]) -> Counter[tuple[str, str]]:
    """(item, other) -> sessions in which both were viewed."""
    sessions: dict[str, list[str]] = defaultdict(list)
    out: Counter[tuple[str, str]] = Counter()
    for event in evs:
        if event.event_type != "product_view" or not event.session_id:
            continue
        seen, item = sessions[event.session_id], event.payload.item_id  # type: ignore[attr-defined]
        if item in seen or len(seen) >= keys.SESSION_ITEMS_CAP:
            continue
        for other in seen:
            out[(item, other)] += 1
            out[(other, item)] += 1
        seen.append(item)
    return out
