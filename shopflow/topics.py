"""The one home of the event bus layout: topic names, partition counts, which event types go
to which topic, and the message key of each event (so one key's events stay in order).

Names carry ``Settings.kafka_topic_prefix`` (default ``shopflow.``), so several deployments
(or test runs) can share one cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from shopflow import events
from shopflow.config import Settings, get_settings

#: Message header naming the event type (lets a consumer route without decoding the body).
EVENT_TYPE_HEADER = "event_type"
#: Dead-letter headers: why the message was rejected and where it came from.
DLQ_ERROR_HEADER = "dlq.error"
DLQ_SOURCE_HEADER = "dlq.source"  # "<topic>/<partition>/<offset>"
DLQ_CONSUMER_HEADER = "dlq.consumer"


@dataclass(frozen=True)
class Topic:
    """One topic. ``key_field`` is the envelope or payload field whose value keys messages;
    ``partitions`` is the default count (``partition_count`` applies the settings)."""

    base: str
    partitions: int
    key_field: str
    description: str

    def name(self, settings: Settings | None = None) -> str:
        return (settings or get_settings()).kafka_topic_prefix + self.base

    def partition_count(self, settings: Settings | None = None) -> int:
        """Partitions to create: ``Settings.kafka_partitions`` for this topic, else the default
        here. A consumer group splits a topic's partitions among its members, and each key
        stays in one partition (``message_key``), so a user's events are applied in order."""
        return (settings or get_settings()).kafka_partitions.get(self.base, self.partitions)


BEHAVIOUR = Topic("behaviour", 6, "user_id", "Storefront behaviour (views, carts, clicks...).")
USERS = Topic("users", 3, "user_id", "Account lifecycle.")
CATALOG = Topic("catalog", 3, "item_id", "Product upserts, price and stock changes.")
ORDERS = Topic("orders", 3, "order_id", "Order lifecycle.")
PAYMENTS = Topic("payments", 3, "payment_id", "Payment lifecycle.")
REVIEWS = Topic("reviews", 3, "review_id", "Review moderation lifecycle.")
WISHLIST_ALERTS = Topic("wishlist-alerts", 3, "user_id", "Price-drop and back-in-stock alerts.")
NOTIFICATIONS = Topic("notifications", 3, "user_id", "Notification delivery status changes.")
DEAD_LETTER = Topic("dead-letter", 1, "", "Messages a consumer could not decode or validate.")

EVENT_TOPICS: tuple[Topic, ...] = (
    BEHAVIOUR,
    USERS,
    CATALOG,
    ORDERS,
    PAYMENTS,
    REVIEWS,
    WISHLIST_ALERTS,
    NOTIFICATIONS,
)
ALL_TOPICS: tuple[Topic, ...] = (*EVENT_TOPICS, DEAD_LETTER)

_BY_PREFIX: tuple[tuple[str, Topic], ...] = (
    ("user.", USERS),
    ("product.", CATALOG),
    ("order_", ORDERS),
    ("payment.", PAYMENTS),
    ("review.", REVIEWS),
    ("wishlist.", WISHLIST_ALERTS),
    ("notification.", NOTIFICATIONS),
)


def _route(event_type: str) -> Topic:
    if event_type in events.BEHAVIOUR_EVENTS:
        return BEHAVIOUR
    for prefix, topic in _BY_PREFIX:
        if event_type.startswith(prefix):
            return topic
    raise LookupError(f"event type {event_type!r} has no topic; add a route in shopflow/topics.py")


#: event type -> topic, for every type of the contract (built at import: a new, unrouted
#: event type fails loudly here rather than at produce time).
ROUTES: dict[str, Topic] = {event_type: _route(event_type) for event_type in events.PAYLOADS}


def topic_for(event_type: str) -> Topic:
    try:
        return ROUTES[event_type]
    except KeyError:
        raise LookupError(f"unknown event type {event_type!r}") from None


def message_key(event: events.Envelope) -> str:
    """The key of an event's message: its topic's key field, else the session, else its id."""
    field = topic_for(event.event_type).key_field
    value = event.__dict__.get(field) or event.payload.__dict__.get(field)  # fast on models
    if value is None and field == "user_id":
        value = event.session_id or event.payload.__dict__.get("wishlist_id")
    return str(value or event.event_id)


def check_partitions(settings: Settings | None = None) -> None:
    """Raise ValueError if ``Settings.kafka_partitions`` names a topic that does not exist."""
    unknown = sorted(
        set((settings or get_settings()).kafka_partitions) - {t.base for t in ALL_TOPICS}
    )
    if unknown:
        known = sorted(t.base for t in ALL_TOPICS)
        raise ValueError(
            f"SHOPFLOW_KAFKA_PARTITIONS names unknown topics {unknown}; known: {known}"
        )


def names(topics: tuple[Topic, ...] = ALL_TOPICS, settings: Settings | None = None) -> list[str]:
    return [topic.name(settings) for topic in topics]


def by_name(name: str, settings: Settings | None = None) -> Topic | None:
    return next((t for t in ALL_TOPICS if t.name(settings) == name), None)
