"""The one home of the Redis key layout and TTLs. Writers and readers import from here.

Batch results are published under a version (``pub:{version}:...``) and made visible by one
pointer flip (``pub:current``), so a reader never sees a half-written set.

Redis Cluster: the keys one Lua script or one pipeline touches together carry one hash tag,
``STORE`` (the published lists, item and user features, real-time features, live metrics:
the features script, the publish and the recommendation reader touch them together), so
each script runs in one slot. Keys read or written one at a time (caches, rate limits,
spam signals, notification channels) keep the bare ``PREFIX`` and spread over the slots.
"""

from __future__ import annotations

PREFIX = "sf"
#: Prefix of the online store's keys: ``PREFIX`` plus the hash tag they share in a cluster.
STORE = f"{PREFIX}:{{online}}"

# ---- batch publish (versioned) -------------------------------------------------------------
#: String: the version id readers use now. Its value names a hash ``publish_meta(version)``.
PUBLISH_POINTER = f"{STORE}:pub:current"
#: Seconds an old publish version lives after the pointer moved past it.
OLD_VERSION_TTL_S = 3600


def publish_meta(version: str) -> str:
    """Hash: published_at, counts, and per strategy ``<strategy>.model`` / ``<strategy>.version``
    (the MLflow registered model name and version that produced it)."""
    return f"{STORE}:pub:{version}:meta"


CHAMPION = "champion"
"""Strategy name of the registered champion; other strategies are model types (als, hybrid...)."""


def user_recs(version: str, user_id: str, strategy: str = CHAMPION) -> str:
    """String (JSON ``[[item_id, score], ...]``): a user's top-N batch recommendations by one
    strategy (the champion, or a model type an experiment variant asks for)."""
    return f"{STORE}:pub:{version}:recs:{strategy}:{user_id}"


def similar_items(version: str, item_id: str) -> str:
    """String (JSON ``[[item_id, score], ...]``): an item's nearest neighbours."""
    return f"{STORE}:pub:{version}:sim:{item_id}"


def popular(version: str, category: str | None = None) -> str:
    """String (JSON ``[[item_id, score], ...]``): global or per-category popularity."""
    return f"{STORE}:pub:{version}:pop" + (f":{category}" if category else "")


def user_history(version: str, user_id: str) -> str:
    """Sorted set: item id -> interaction weight, the user's strongest batch interactions
    (used to explain recommendations and to seed real-time blending)."""
    return f"{STORE}:pub:{version}:hist:{user_id}"


_PUBLISHED = f"{STORE}:pub:"


def version_prefix(version: str) -> str:
    """What every key of one publish version starts with."""
    return f"{_PUBLISHED}{version}:"


def version_pattern(version: str) -> str:
    """SCAN pattern of every key of one publish version."""
    return version_prefix(version) + "*"


def version_of(key: str) -> str | None:
    """The publish version a versioned key belongs to (None for any other key)."""
    if not key.startswith(_PUBLISHED):
        return None
    version, sep, _ = key[len(_PUBLISHED) :].partition(":")
    return version if sep else None


def version_index(version: str) -> str:
    """List: the names of the version's keys, a JSON array per round trip that wrote them
    (``shopflow.online_store.version_index``)."""
    return version_prefix(version) + "index"


#: Set: publish versions whose keys have no TTL yet (the current one and any unfinished one);
#: after a pointer flip the publisher expires every other member's keys and removes it.
PUBLISH_VERSIONS = f"{STORE}:pub:versions"

#: String: held (SET NX with a TTL, value = the holder's token) by the one publish running now,
#: so concurrent publishes never expire each other's keys. The holder refreshes the TTL as it
#: writes; a crashed holder's lock lapses after PUBLISH_LOCK_TTL_S.
PUBLISH_LOCK = f"{STORE}:pub:lock"
PUBLISH_LOCK_TTL_S = 60


# ---- online features (written by batch and streaming) --------------------------------------
def item_info(item_id: str) -> str:
    """Hash: title, category, brand, price_minor, currency, stock, blocked."""
    return f"{STORE}:item:{item_id}"


def user_purchased(user_id: str) -> str:
    """Set: item ids the user has bought."""
    return f"{STORE}:user:{user_id}:bought"


def user_disliked(user_id: str) -> str:
    """Set: item ids the user rated below the positive threshold (published); never
    recommended to them, and told apart from ``user_purchased`` (``explain`` says why)."""
    return f"{STORE}:user:{user_id}:disliked"


def user_exclusions(user_id: str) -> list[str]:
    """The user's do-not-recommend sets, in the order the readers' scripts take them as KEYS:
    ``user_purchased``, ``user_disliked``."""
    return [user_purchased(user_id), user_disliked(user_id)]


BLOCKED_ITEMS = f"{STORE}:items:blocked"
"""Set: item ids that must never be recommended."""


# ---- real-time features (streaming consumers) ----------------------------------------------
RECENT_ITEMS_CAP = 50
SEEN_EVENT_TTL_S = 7 * 24 * 3600


def user_recent_items(user_id: str) -> str:
    """Sorted set: item id -> last touch time (epoch seconds), capped at RECENT_ITEMS_CAP."""
    return f"{STORE}:rt:user:{user_id}:recent"


def user_features(user_id: str) -> str:
    """Hash: a user's real-time features, so the features consumer reads and writes each user
    with one HMGET and one HSET a batch. Fields: ``c:{category}`` decayed category affinity
    (forward decay, as for TRENDING: a score is sum(weight * 2**((t - ref) / half_life)) with
    ref the epoch seconds in field ``a``; rank by score), ``k:{item_id}`` cart quantity,
    ``s:{session_id}`` the views of one of the user's sessions for co-views ("<epoch seconds
    of its last new view> <JSON array of distinct items, in order>"; a session is over
    SESSION_TTL_S after its last new view; past 2 * USER_SESSIONS_CAP fields only the
    newest USER_SESSIONS_CAP are kept), and the consumer's bookkeeping: ``nr`` members of
    ``user_recent_items``, ``sn`` session fields, ``x`` epoch seconds the TTL (USER_RT_TTL_S)
    of both keys was last set (renewed once half of it has passed). Read with
    ``USER_AFFINITY_FIELD`` / ``USER_CART_FIELD``."""
    return f"{STORE}:rt:user:{user_id}:feat"


#: Field prefixes of ``user_features``: category affinity, cart line, session views.
USER_AFFINITY_FIELD = "c:"
USER_CART_FIELD = "k:"
USER_SESSION_FIELD = "s:"


def item_counts(metric: str, window: str, bucket: int) -> str:
    """Hash: item id -> count of ``metric`` (view|cart|purchase) in one window bucket (1h|24h;
    bucket = epoch seconds // window length). Lives 2 window lengths after its last write."""
    return f"{STORE}:rt:counts:{metric}:{window}:{bucket}"


TRENDING = f"{STORE}:rt:trending"
"""Sorted set: item id -> decayed trending score."""


def coviews(item_id: str) -> str:
    """Sorted set: item id -> co-view count within a session."""
    return f"{STORE}:rt:coview:{item_id}"


def session_items(session_id: str) -> str:
    """String: JSON array of the distinct items viewed in an anonymous session (no user id),
    in order (for co-views); lives SESSION_TTL_S after its last new view. A user's sessions
    live in ``user_features``."""
    return f"{STORE}:rt:session:{session_id}:views"


def seen_events(consumer: str, day: str) -> str:
    """Hash: event_id -> when its batch went to Redis (epoch ms, the consumer's clock; the
    batch's script applies it and the mark together) for the events of one UTC
    day (``YYYY-MM-DD`` of ``occurred_at``) a consumer has applied (idempotency; one hash per
    day keeps it to O(1) calls a batch).
    Lives SEEN_EVENT_TTL_S after its last write."""
    return f"{STORE}:rt:seen:{consumer}:{day}"


#: TTLs and caps of the real-time features (the features consumer applies them).
USER_RT_TTL_S = 30 * 24 * 3600
SESSION_TTL_S = 4 * 3600
SESSION_ITEMS_CAP = 50
USER_SESSIONS_CAP = 8
COVIEWS_CAP = 100
COVIEWS_TTL_S = 30 * 24 * 3600
TRENDING_CAP = 10_000
USER_CATEGORIES_CAP = 50
#: Counter windows: name -> bucket length in seconds (bucket = epoch seconds // length).
COUNTER_WINDOWS: dict[str, int] = {"1h": 3600, "24h": 86400}

TRENDING_REF = f"{STORE}:rt:trending:ref"
"""String: epoch seconds the TRENDING scores are expressed at (forward decay: a score is
sum(weight * 2**((t - ref) / half_life)); ref moves forward now and then, rescaling the set)."""


# ---- live metrics --------------------------------------------------------------------------
LIVE_METRICS_TTL_S = 48 * 3600


def live_metric(minute: int, metric: str) -> str:
    """Integer per minute (epoch minute): orders (placed), paid_orders and
    revenue_minor:{CURRENCY} (of the orders paid in that minute)."""
    return f"{STORE}:live:{minute}:{metric}"


def live_active_users(minute: int) -> str:
    """HyperLogLog of user ids active in an epoch minute."""
    return f"{STORE}:live:{minute}:users"


def live_category_views(minute: int) -> str:
    """Hash: category -> views in an epoch minute."""
    return f"{STORE}:live:{minute}:catviews"


# ---- caches and notifications --------------------------------------------------------------


def payment_cache(payment_id: str) -> str:
    """JSON {"version", "body"}: served only while ``version`` is the payment's in the
    database (``serving.commerce_http.cached_payment``); TTL: ``payment_cache_ttl_s``."""
    return f"{PREFIX}:cache:payment:{payment_id}"


def notification_channel(user_id: str) -> str:
    """Pub/sub channel fanning in-app notifications out across API workers."""
    return f"{PREFIX}:ws:user:{user_id}"


def notification_user(channel: str) -> str:
    """The user id of a ``notification_channel`` name."""
    return channel.removeprefix(f"{PREFIX}:ws:user:")


# ---- reviews -------------------------------------------------------------------------------
def review_rate(user_id: str, bucket: int) -> str:
    """Integer: review submissions by a user in one rate-limit window bucket (TTL: window)."""
    return f"{PREFIX}:rl:review:{user_id}:{bucket}"


#: Lifetime of cached review reads; every committed change drops them at once anyway.
REVIEW_CACHE_TTL_S = 300


def review_cache(product_id: str) -> str:
    """Hash: the JSON bodies of a product's cached first listing pages, field
    ``page:{sort}:{limit}``, each labelled with the database cache version it was read under
    (``commerce.reviews.cache``). Dropped after every committed change to the product's
    reviews (TTL REVIEW_CACHE_TTL_S)."""
    return f"{PREFIX}:cache:reviews:{product_id}"


def review_rating_cache(product_id: str) -> str:
    """String: JSON of a product's cached rating aggregate (count, sum, stars), dropped with
    ``review_cache`` (TTL REVIEW_CACHE_TTL_S)."""
    return f"{PREFIX}:cache:rating:{product_id}"


#: String: JSON catalog-wide approved review count and rating sum (the Bayesian prior),
#: dropped after every committed change to them (TTL REVIEW_CACHE_TTL_S).
REVIEW_CATALOG_CACHE = f"{PREFIX}:cache:rating:~catalog"

#: How long a review text is remembered for the "same text from other accounts" spam rule.
REVIEW_TEXT_TTL_S = 90 * 24 * 3600


def review_text_accounts(text_hash: str) -> str:
    """Set: user ids that submitted a review whose normalised text hashes to ``text_hash``
    (TTL REVIEW_TEXT_TTL_S from the last submission)."""
    return f"{PREFIX}:spam:text:{text_hash}"


def review_submissions(user_id: str) -> str:
    """Sorted set: review id -> epoch seconds of the user's latest submission or edit of it,
    trimmed to the burst window (Settings.review_burst_window_s), which is also its TTL."""
    return f"{PREFIX}:spam:user:{user_id}:submissions"


# ---- API rate limits (serving/security/ratelimit.py) ---------------------------------------
#: Prefix of the ``limits`` library's sliding-window counters (per route class and caller).
RATE_LIMITS_PREFIX = f"{PREFIX}:rl"


def user_owned(user_id: str) -> list[str]:
    """Every fixed key holding one user's data (export reads them, erasure deletes them):
    real-time features and lists, notification channel, review submissions. Keys with a
    free part (published recommendations and history of any version still in Redis, rate
    buckets) are found by SCAN with ``user_owned_patterns`` and checked with
    ``is_user_owned``."""
    return [
        user_features(user_id),
        user_recent_items(user_id),
        user_purchased(user_id),
        user_disliked(user_id),
        notification_channel(user_id),
        review_submissions(user_id),
    ]


def user_owned_patterns(user_id: str) -> list[str]:
    """SCAN patterns of a user's keys with a free part (glob characters in ids escaped)."""
    uid = _glob_escape(user_id)
    store = _glob_escape(STORE)
    return [
        f"{PREFIX}:rl:review:{uid}:*",
        f"{store}:pub:*:recs:*:{uid}",
        f"{store}:pub:*:hist:{uid}",
    ]


def is_user_owned(key: str, user_id: str) -> bool:
    """Whether a key matched by ``user_owned_patterns`` is exactly this user's (a ``*`` may
    also match the colons of another id that ends like this one)."""
    if key.startswith(f"{PREFIX}:rl:review:"):
        head, _, bucket = key.rpartition(":")
        return head == f"{PREFIX}:rl:review:{user_id}" and bucket.isdigit()
    parts = key.removeprefix(f"{STORE}:").split(":")
    if len(parts) > 3 and parts[0] == "pub" and parts[2] == "recs":
        return key == user_recs(parts[1], user_id, parts[3])
    if len(parts) > 2 and parts[0] == "pub" and parts[2] == "hist":
        return key == user_history(parts[1], user_id)
    return False


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
