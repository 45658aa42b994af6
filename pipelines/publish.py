"""Publishing batch results to Redis: pure functions taking a redis client.

Everything of one publish goes under a new version id; the pointer ``keys.PUBLISH_POINTER``
flips once, after every key and the meta hash are written, so a reader always sees one
complete version. Older versions get ``keys.OLD_VERSION_TTL_S`` and expire.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from shopflow import keys

Scored = list[tuple[str, float]]
ITEM_INFO_FIELDS = ("title", "category", "brand", "price_minor", "currency", "stock", "blocked")


@dataclass
class PublishBundle:
    """What one publish writes. ``recs`` maps strategy -> user -> list; ``models`` maps
    strategy -> (registered model name, version) for the meta hash."""

    recs: dict[str, dict[str, Scored]] = field(default_factory=dict)
    similar: dict[str, Scored] = field(default_factory=dict)
    popular: Scored = field(default_factory=list)
    popular_by_category: dict[str, Scored] = field(default_factory=dict)
    history: dict[str, Scored] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    purchased: dict[str, set[str]] = field(default_factory=dict)
    models: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class PublishReport:
    version: str
    previous: str | None
    keys_written: int
    seconds: float
    dropped_scores: int

    @property
    def keys_per_s(self) -> float:
        return self.keys_written / self.seconds if self.seconds > 0 else float("inf")


def new_version() -> str:
    """A sortable UTC timestamp id, e.g. ``20250102T030405123456Z``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def current_version(client: redis.Redis) -> str | None:
    value = client.get(keys.PUBLISH_POINTER)
    return value.decode() if isinstance(value, bytes) else value


class _Encoder:
    """JSON lists of [item_id, score] with non-finite scores dropped (never NaN in Redis)."""

    def __init__(self) -> None:
        self.dropped = 0

    def encode(self, recs: Scored, exclude: set[str] | None = None) -> str:
        clean = []
        for item, score in recs:
            if not math.isfinite(score):
                self.dropped += 1
            elif not exclude or item not in exclude:
                clean.append([item, round(float(score), 6)])
        return json.dumps(clean, separators=(",", ":"))


def _commands(bundle: PublishBundle, version: str, enc: _Encoder) -> Iterator[tuple]:
    for strategy, per_user in bundle.recs.items():
        for user_id, recs in per_user.items():
            bought = bundle.purchased.get(user_id)
            yield ("set", keys.user_recs(version, user_id, strategy), enc.encode(recs, bought))
    for item_id, recs in bundle.similar.items():
        yield ("set", keys.similar_items(version, item_id), enc.encode(recs))
    yield ("set", keys.popular(version), enc.encode(bundle.popular))
    for category, recs in bundle.popular_by_category.items():
        yield ("set", keys.popular(version, category), enc.encode(recs))
    for user_id, hist in bundle.history.items():
        mapping = {item: float(w) for item, w in hist if math.isfinite(w)}
        if mapping:
            yield ("zadd", keys.user_history(version, user_id), mapping)
    for item_id, info in bundle.items.items():
        fields = {f: _field(info.get(f)) for f in ITEM_INFO_FIELDS if f in info}
        if fields:
            yield ("hset", keys.item_info(item_id), fields)
    for user_id, items in bundle.purchased.items():
        if items:
            yield ("sadd", keys.user_purchased(user_id), sorted(items))


def _field(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


def _apply(pipe: Any, command: tuple) -> None:
    op, key, value = command
    if op == "set":
        pipe.set(key, value)
    elif op == "zadd":
        pipe.delete(key)
        pipe.zadd(key, value)
    elif op == "hset":
        pipe.hset(key, mapping=value)
    elif op == "sadd":
        pipe.sadd(key, *value)


def publish(
    client: redis.Redis,
    bundle: PublishBundle,
    version: str | None = None,
    chunk_size: int = 2_000,
    progress: Callable[[int], None] | None = None,
) -> PublishReport:
    """Write ``bundle`` under a new version, flip the pointer once, expire older versions.
    ``progress(keys_written)`` is called after each chunk."""
    version = version or new_version()
    started = time.perf_counter()
    client.sadd(keys.PUBLISH_VERSIONS, version)  # marked before any key, so never orphaned
    enc = _Encoder()
    written = 0
    pipe = client.pipeline(transaction=False)
    pending = 0
    for command in _commands(bundle, version, enc):
        _apply(pipe, command)
        pending += 1
        if pending >= chunk_size:
            pipe.execute()
            written += pending
            pending = 0
            if progress:
                progress(written)
    pipe.execute()
    written += pending
    meta = _meta(bundle, written, enc.dropped)
    client.hset(keys.publish_meta(version), mapping=meta)
    previous = client.set(keys.PUBLISH_POINTER, version, get=True)  # the one flip
    previous = previous.decode() if isinstance(previous, bytes) else previous
    expire_old_versions(client, keep=version)
    seconds = time.perf_counter() - started
    if progress:
        progress(written)
    return PublishReport(version, previous, written + 1, seconds, enc.dropped)


def _meta(bundle: PublishBundle, written: int, dropped: int) -> dict[str, str]:
    meta = {
        "published_at": datetime.now(UTC).isoformat(),
        "keys": str(written),
        "users": str(len({u for per in bundle.recs.values() for u in per})),
        "items": str(len(bundle.items)),
        "similar": str(len(bundle.similar)),
        "categories": str(len(bundle.popular_by_category)),
        "dropped_scores": str(dropped),
        "strategies": ",".join(sorted(bundle.recs)),
    }
    for strategy, (model, model_version) in bundle.models.items():
        meta[f"{strategy}.model"] = model
        meta[f"{strategy}.version"] = str(model_version)
    return meta


def expire_old_versions(
    client: redis.Redis, keep: str, ttl_s: int = keys.OLD_VERSION_TTL_S, scan_count: int = 1_000
) -> list[str]:
    """Give every key of each other recorded version a TTL, then forget the version."""
    expired = []
    for raw in client.smembers(keys.PUBLISH_VERSIONS):
        old = raw.decode() if isinstance(raw, bytes) else raw
        if old == keep:
            continue
        pipe = client.pipeline(transaction=False)
        for key in client.scan_iter(match=keys.version_pattern(old), count=scan_count):
            pipe.expire(key, ttl_s)
        pipe.execute()
        client.srem(keys.PUBLISH_VERSIONS, old)
        expired.append(old)
    return expired


def read_recs(client: redis.Redis, user_id: str, strategy: str = keys.CHAMPION) -> Scored | None:
    """Reference reader: the current version's list for a user (None if not published)."""
    version = current_version(client)
    if version is None:
        return None
    raw = client.get(keys.user_recs(version, user_id, strategy))
    return None if raw is None else [(i, float(s)) for i, s in json.loads(raw)]
