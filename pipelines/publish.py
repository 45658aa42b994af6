"""Publishing batch results to Redis: pure functions taking a redis client.

Everything of one publish goes under a new version id; the pointer ``keys.PUBLISH_POINTER``
flips once, after every key and the meta hash are written, so a reader always sees one
complete version. Older versions get ``keys.OLD_VERSION_TTL_S`` and expire. One publish runs
at a time (``keys.PUBLISH_LOCK``), so a concurrent one never expires keys still being written.

Lists that write themselves (:class:`SelfWritingLists`: a model trained on Spark is scored and
written by Spark tasks, ``pipelines.spark_publish``) are written first, under the same version
and lock.

Speed: lists are encoded by ``codec`` (in bulk from arrays by ``codec.encode_scored_rows`` when
given as :class:`RankedLists`), string keys go out as MSETs and a round trip carries
``chunk_size`` keys.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, overload, runtime_checkable

import numpy as np
import redis

from shopflow.online_store import codec, connect, keys, version_index

Scored = list[tuple[str, float]]
MSET_PAIRS = 1_000  # key-value pairs per MSET command
ENCODE_ROWS = 4_096  # rows of a RankedLists one encoding job takes

# The lock's holder refreshes it, flips the pointer and releases it only while it still holds it.
_REFRESH = """if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0"""
_FLIP = """if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('LOCKLOST') end
local previous = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[2], ARGV[2])
return previous"""
_RELEASE = """if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0"""
# One SCAN step server-side, expiring what it finds: no per-key round trips.
_EXPIRE_STEP = """local found = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
for _, key in ipairs(found[2]) do redis.call('EXPIRE', key, ARGV[4]) end
return found[1]"""


class PublishLockedError(RuntimeError):
    """Another publish holds (or took over) ``keys.PUBLISH_LOCK``."""


@dataclass
class RankedLists:
    """Top-n lists of many owners (users or items) as arrays, the way models produce them:
    row r of ``idx`` (indices into ``item_ids``; -1 pads) and ``scores`` is ``owners[r]``'s
    list, best first. Rows without any item are not published."""

    owners: list[str]
    item_ids: np.ndarray
    idx: np.ndarray
    scores: np.ndarray

    def __post_init__(self) -> None:
        self.owners = list(self.owners)
        self.item_ids = np.asarray(self.item_ids, dtype=object)
        self.idx, self.scores = np.asarray(self.idx), np.asarray(self.scores)
        if self.idx.shape != self.scores.shape or self.idx.shape[0] != len(self.owners):
            raise ValueError("idx and scores need one row per owner and the same shape")

    def as_dict(self) -> dict[str, Scored]:
        return {
            owner: [
                (str(self.item_ids[i]), float(s))
                for i, s in zip(row, scores, strict=True)
                if i >= 0
            ]
            for owner, row, scores in zip(self.owners, self.idx, self.scores, strict=True)
            if (row >= 0).any()
        }


@runtime_checkable
class SelfWritingLists(Protocol):
    """Per-user lists that score and write themselves under a version (on Spark:
    ``pipelines.spark_publish.SparkLists``)."""

    def write(
        self, version: str, strategy: str, refresh: Callable[[], None], every_s: float
    ) -> tuple[list[str], int, int]:
        """Write every list; call ``refresh`` every ``every_s`` s meanwhile. Returns (owners
        written, keys written, dropped non-finite scores)."""
        ...


Lists = dict[str, Scored] | RankedLists
UserLists = Lists | SelfWritingLists


@dataclass
class PublishBundle:
    """What one publish writes. ``recs`` maps strategy -> per-user lists; ``models`` maps
    strategy -> (registered model name, version) for the meta hash. ``items`` are the
    ``keys.item_info`` fields; ``blocked`` is written as 0/1 (missing: 0), and an item in the
    admins' ``keys.BLOCKED_ITEMS`` set is always written blocked=1 (the set is never changed).
    ``purchased`` and ``disliked`` go to ``keys.user_purchased`` / ``keys.user_disliked`` (both
    kept out of the user's lists here and at serving; ``explain`` names which one)."""

    recs: dict[str, UserLists] = field(default_factory=dict)
    similar: Lists = field(default_factory=dict)
    popular: Scored = field(default_factory=list)
    popular_by_category: dict[str, Scored] = field(default_factory=dict)
    history: dict[str, Scored] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    purchased: dict[str, set[str]] = field(default_factory=dict)
    disliked: dict[str, set[str]] = field(default_factory=dict)
    models: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class PublishReport:
    version: str
    previous: str | None
    keys_written: int
    seconds: float
    dropped_scores: int
    users: int = 0  # users with a list under any strategy

    @property
    def keys_per_s(self) -> float:
        return self.keys_written / self.seconds if self.seconds > 0 else float("inf")


def new_version() -> str:
    """A sortable UTC timestamp id, e.g. ``20250102T030405123456Z``."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


@overload
def _text(value: bytes | str) -> str: ...
@overload
def _text(value: Any) -> str | None: ...
def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def current_version(client: connect.SyncClient) -> str | None:
    return _text(client.get(keys.PUBLISH_POINTER))


# ---- the lock ------------------------------------------------------------------------------
class PublishLock:
    """``keys.PUBLISH_LOCK`` held with a random token; see :func:`publish_lock`."""

    def __init__(self, client: connect.SyncClient, ttl_s: int) -> None:
        self.client = client
        self.token = secrets.token_hex(16)
        self.ttl_ms = ttl_s * 1000
        self._refresh = client.register_script(_REFRESH)
        self._flip = client.register_script(_FLIP)
        self._release = client.register_script(_RELEASE)

    def refresh(self) -> None:
        """Renew the lock's TTL; raises :class:`PublishLockedError` if it is not ours any more.
        (Its own call: a cluster pipeline runs no scripts.)"""
        if not self._refresh(keys=[keys.PUBLISH_LOCK], args=[self.token, self.ttl_ms]):
            raise PublishLockedError("lost the publish lock (it expired and was taken over)")

    def flip(self, version: str) -> str | None:
        """Point readers at ``version``, only while still holding the lock; returns the
        previous version."""
        try:
            previous = self._flip(keys=[keys.PUBLISH_LOCK, keys.PUBLISH_POINTER],
                                  args=[self.token, version])  # fmt: skip
        except redis.ResponseError as exc:
            if "LOCKLOST" in str(exc):
                raise PublishLockedError("lost the publish lock before the pointer flip") from exc
            raise
        return _text(previous)

    def release(self) -> None:
        self._release(keys=[keys.PUBLISH_LOCK], args=[self.token])


@contextlib.contextmanager
def publish_lock(
    client: connect.SyncClient, wait_s: float = 120.0, ttl_s: int = keys.PUBLISH_LOCK_TTL_S
) -> Iterator[PublishLock]:
    """Hold ``keys.PUBLISH_LOCK`` (SET NX with a TTL), waiting up to ``wait_s`` for another
    publish to finish; raises :class:`PublishLockedError` when it does not in time."""
    lock = PublishLock(client, ttl_s)
    deadline = time.monotonic() + wait_s
    while not client.set(keys.PUBLISH_LOCK, lock.token, nx=True, px=lock.ttl_ms):
        if time.monotonic() >= deadline:
            holder = _text(client.get(keys.PUBLISH_LOCK))
            raise PublishLockedError(
                f"another publish holds {keys.PUBLISH_LOCK} (token {holder}); waited {wait_s:g} s"
            )
        time.sleep(0.05)
    try:
        yield lock
    finally:
        lock.release()


# ---- encoding ------------------------------------------------------------------------------
class _Encoder:
    """``codec.encode_scored`` of the dict-form lists, counting the dropped non-finite scores
    and the users with a list."""

    def __init__(self) -> None:
        self.dropped = 0
        self.users: set[str] = set()

    def encode(self, recs: Scored, exclude: set[str] | None = None) -> bytes:
        value, dropped = codec.encode_scored(recs, exclude)
        self.dropped += dropped
        return value

    def lists(
        self, lists: dict[str, Scored], exclude: dict[str, set[str]] | None = None
    ) -> Iterator[tuple[str, bytes]]:
        """(owner, JSON) of every non-empty list; ``exclude`` maps owner -> items to leave out."""
        exclude = exclude or {}
        for owner, recs in lists.items():
            if recs:
                yield owner, self.encode(recs, exclude.get(owner))


def ranked_json(
    lists: RankedLists, exclude: dict[str, set[str]] | None = None
) -> tuple[list[str], list[bytes], int]:
    """(owners, JSON lists, dropped non-finite scores) of the rows with any item, by the
    codec's bulk encoder; ``exclude`` maps owner -> items to leave out."""
    return _RankedEncoding(lists, exclude).rows(0, len(lists.owners))


class _RankedEncoding:
    """``ranked_json`` of a :class:`RankedLists` in row slices: the item heads and the
    exclusion mask are computed once, then each slice is encoded on its own (so writes can
    start after the first slice)."""

    def __init__(self, lists: RankedLists, exclude: dict[str, set[str]] | None) -> None:
        self.lists = lists
        self.idx = np.asarray(lists.idx, dtype=np.int64)
        self.drop = _excluded(lists, self.idx, exclude) if exclude else None
        self.heads = codec.item_heads(lists.item_ids.tolist())

    def rows(self, start: int, stop: int) -> tuple[list[str], list[bytes], int]:
        drop = None if self.drop is None else self.drop[start:stop]
        rows, values, dropped = codec.encode_scored_rows(
            self.heads, self.idx[start:stop], self.lists.scores[start:stop], drop
        )
        owners = self.lists.owners
        return [owners[start + r] for r in rows], values, dropped


def _excluded(lists: RankedLists, idx: np.ndarray, exclude: dict[str, set[str]]) -> np.ndarray:
    """Mask of the entries whose item the row's owner must not get (e.g. already bought)."""
    item_pos = {str(item): p for p, item in enumerate(lists.item_ids.tolist())}
    owner_row = {owner: r for r, owner in enumerate(lists.owners)}
    pairs = [
        (owner_row[owner], item_pos[item])
        for owner, items in exclude.items()
        if owner in owner_row
        for item in items
        if item in item_pos
    ]
    if not pairs:
        return np.zeros(idx.shape, dtype=bool)
    n_items = max(len(lists.item_ids), 1)
    banned = np.array([r * n_items + c for r, c in pairs], dtype=np.int64)
    entries = np.arange(idx.shape[0], dtype=np.int64)[:, None] * n_items + idx
    return np.isin(entries, banned) & (idx >= 0)


def _string_keys(
    bundle: PublishBundle, version: str, enc: _Encoder
) -> Iterator[tuple[list[str], list[bytes]]]:
    """Every string key and its JSON, in batches. Array lists are encoded in a worker thread,
    ``ENCODE_ROWS`` rows a job, ahead of the writes (Arrow releases the GIL)."""
    ranked: list[tuple[str | None, RankedLists]] = [
        (s, v) for s, v in bundle.recs.items() if isinstance(v, RankedLists)
    ]
    if isinstance(bundle.similar, RankedLists):
        ranked.append((None, bundle.similar))
    exclude = bundle.purchased
    if bundle.disliked:  # a user's lists leave out both
        exclude = {u: exclude.get(u, set()) | bundle.disliked.get(u, set())
                   for u in exclude.keys() | bundle.disliked.keys()}  # fmt: skip
    with ThreadPoolExecutor(max_workers=1) as pool:
        jobs = {name: _slice_jobs(pool, lists, exclude if name else None) for name, lists in ranked}
        for strategy, per_user in bundle.recs.items():
            if isinstance(per_user, SelfWritingLists):
                continue  # written by publish() before these
            for users, values in _encoded(per_user, jobs.get(strategy), enc, exclude):
                enc.users.update(users)
                yield [keys.user_recs(version, u, strategy) for u in users], values
        for items, values in _encoded(bundle.similar, jobs.get(None), enc, None):
            yield [keys.similar_items(version, i) for i in items], values
    yield [keys.popular(version)], [enc.encode(bundle.popular)]
    for category, recs in bundle.popular_by_category.items():
        yield [keys.popular(version, category)], [enc.encode(recs)]


def _slice_jobs(
    pool: ThreadPoolExecutor, lists: RankedLists, exclude: dict[str, set[str]] | None
) -> list[Future]:
    prepared = pool.submit(_RankedEncoding, lists, exclude)
    return [
        pool.submit(lambda start: prepared.result().rows(start, start + ENCODE_ROWS), start)
        for start in range(0, len(lists.owners), ENCODE_ROWS)
    ]


def _encoded(
    lists: Lists, jobs: list[Future] | None, enc: _Encoder, exclude: dict[str, set[str]] | None
) -> Iterator[tuple[list[str], list[bytes]]]:
    if jobs is None:  # the dict form (RankedLists get jobs)
        pairs = list(enc.lists(lists, exclude))  # type: ignore[arg-type]  # not RankedLists here
        yield [owner for owner, _ in pairs], [value for _, value in pairs]
        return
    for job in jobs:
        owners, values, dropped = job.result()
        enc.dropped += dropped
        yield owners, values


def _other_keys(bundle: PublishBundle, version: str, admin_blocked: set[str]) -> Iterator[tuple]:
    for user_id, hist in bundle.history.items():
        mapping = {item: float(w) for item, w in hist if math.isfinite(w)}
        if mapping:
            yield ("zadd", keys.user_history(version, user_id), mapping)
    for item_id, info in bundle.items.items():
        blocked = item_id in admin_blocked or codec.is_true(info.get("blocked"))
        yield ("hset", keys.item_info(item_id), codec.encode_item(info, blocked))
    for user_id, items in bundle.purchased.items():
        if items:
            yield ("sadd", keys.user_purchased(user_id), sorted(items))
    for user_id, items in bundle.disliked.items():
        if items:
            yield ("sadd", keys.user_disliked(user_id), sorted(items))


# ---- writing -------------------------------------------------------------------------------
class _Writer:
    """One non-transactional pipeline; SETs are batched into MSETs; every ``chunk_size``
    keys it makes one round trip, then refreshes the publish lock (if it holds one)."""

    def __init__(
        self,
        client: connect.SyncClient,
        lock: PublishLock | None,
        chunk_size: int,
        progress: Callable[[int], None] | None,
        version: str,
    ) -> None:
        self.pipe = client.pipeline(transaction=False)
        self.lock, self.chunk_size, self.progress = lock, max(1, chunk_size), progress
        self.index = keys.version_index(version)
        self.versioned = keys.version_prefix(version)
        self.mset: list[Any] = []
        self.unindexed: list[str] = []  # the version's keys of this round trip
        self.pending = 0
        self.written = 0

    def set_many(self, names: list[str], values: list[bytes]) -> None:
        """SET each name (a key of the version) to its value (MSETs of ``MSET_PAIRS`` pairs)."""
        for start in range(0, len(names), self.chunk_size):
            stop = min(start + self.chunk_size, len(names))
            self.unindexed += names[start:stop]
            pairs: list[Any] = [None] * (2 * (stop - start))
            pairs[0::2], pairs[1::2] = names[start:stop], values[start:stop]
            self.mset += pairs
            while len(self.mset) >= 2 * MSET_PAIRS:
                self.pipe.execute_command("MSET", *self.mset[: 2 * MSET_PAIRS])
                del self.mset[: 2 * MSET_PAIRS]
            self._count(stop - start)

    def command(self, op: str, key: str, value: Any) -> None:
        if key.startswith(self.versioned):
            self.unindexed.append(key)
        if op == "zadd":
            self.pipe.delete(key)  # the same version published twice: no stale members
            self.pipe.zadd(key, value)
        elif op == "hset":
            self.pipe.hset(key, mapping=value)
        elif op == "sadd":
            self.pipe.sadd(key, *value)
        self._count()

    def flush(self) -> None:
        """One round trip; its keys of the version are named in the version's index in it."""
        self._queue_mset()
        if self.unindexed:
            self.pipe.rpush(self.index, version_index.batch(self.unindexed))
            self.unindexed = []
        self.pipe.execute()
        if self.lock is not None:
            self.lock.refresh()
        self.written += self.pending
        self.pending = 0
        if self.progress:
            self.progress(self.written)

    def _queue_mset(self) -> None:
        if self.mset:
            self.pipe.execute_command("MSET", *self.mset)
            self.mset = []

    def _count(self, n: int = 1) -> None:
        self.pending += n
        if self.pending >= self.chunk_size:
            self.flush()


def write_strings(
    client: connect.SyncClient,
    version: str,
    pairs: Iterable[tuple[str, bytes]],
    chunk_size: int = 10_000,
) -> int:
    """Write (key, value) pairs of ``version`` the way a publish does (MSETs, ``chunk_size``
    keys a round trip, named in the version's index), for a writer that holds no lock (a Spark
    task of a running publish). Returns the keys written."""
    writer = _Writer(client, None, chunk_size, None, version)
    names, values = [], []
    for key, value in pairs:
        names.append(key)
        values.append(value)
    writer.set_many(names, values)
    writer.flush()
    return writer.written


def publish(
    client: connect.SyncClient,
    bundle: PublishBundle,
    version: str | None = None,
    chunk_size: int = 10_000,
    progress: Callable[[int], None] | None = None,
    lock_wait_s: float = 120.0,
) -> PublishReport:
    """Write ``bundle`` under a new version, flip the pointer once, expire older versions, all
    while holding the publish lock (waiting up to ``lock_wait_s`` for a running publish).
    ``progress(keys_written)`` is called after each round trip of ``chunk_size`` keys."""
    version = version or new_version()
    started = time.perf_counter()
    with publish_lock(client, wait_s=lock_wait_s) as lock:
        client.sadd(keys.PUBLISH_VERSIONS, version)  # marked before any key, so never orphaned
        enc = _Encoder()
        elsewhere = _write_self_writing(bundle, version, lock, enc)
        admin_blocked = {_text(i) for i in client.smembers(keys.BLOCKED_ITEMS)}
        writer = _Writer(client, lock, chunk_size, progress, version)
        for names, values in _string_keys(bundle, version, enc):
            writer.set_many(names, values)
        for op, key, value in _other_keys(bundle, version, admin_blocked):
            writer.command(op, key, value)
        writer.flush()
        meta = _meta(bundle, writer.written + elsewhere, enc)
        client.hset(keys.publish_meta(version), mapping=meta)  # type: ignore[arg-type]  # Mapping keys are invariant: dict[str, str] is not Mapping[EncodableT, ...]
        previous = lock.flip(version)  # the one flip
        expire_old_versions(client, keep=version)
    seconds = time.perf_counter() - started
    if progress:
        progress(writer.written)
    return PublishReport(
        version, previous, writer.written + elsewhere + 1, seconds, enc.dropped, len(enc.users)
    )


def _write_self_writing(
    bundle: PublishBundle, version: str, lock: PublishLock, enc: _Encoder
) -> int:
    """Let the self-writing lists of ``bundle`` write themselves; returns the keys written."""
    written = 0
    for strategy, lists in bundle.recs.items():
        if isinstance(lists, SelfWritingLists):
            owners, count, dropped = lists.write(
                version, strategy, lock.refresh, lock.ttl_ms / 3000
            )
            enc.users.update(owners)
            enc.dropped += dropped
            written += count
    return written


def _meta(bundle: PublishBundle, written: int, enc: _Encoder) -> dict[str, str]:
    similar = bundle.similar
    meta = {
        "published_at": datetime.now(UTC).isoformat(),
        "keys": str(written),
        "users": str(len(enc.users)),
        "items": str(len(bundle.items)),
        "similar": str(len(similar.owners if isinstance(similar, RankedLists) else similar)),
        "categories": str(len(bundle.popular_by_category)),
        "dropped_scores": str(enc.dropped),
        "strategies": ",".join(sorted(bundle.recs)),
        version_index.INDEXED_FIELD: "1",  # written after every key: the index is whole
    }
    for strategy, (model, model_version) in bundle.models.items():
        meta[f"{strategy}.model"] = model
        meta[f"{strategy}.version"] = str(model_version)
    return meta


def expire_old_versions(
    client: connect.SyncClient,
    keep: str,
    ttl_s: int = keys.OLD_VERSION_TTL_S,
    scan_count: int = 10_000,
) -> list[str]:
    """Give every key of each other recorded version a TTL, then forget the version. An indexed
    version by its index (``version_index``); any other by SCAN, the SCAN and the EXPIREs
    server-side, one script call per SCAN step."""
    step = client.register_script(_EXPIRE_STEP)
    expired = []
    for raw in client.smembers(keys.PUBLISH_VERSIONS):
        old = _text(raw)
        if old == keep:
            continue
        if version_index.is_indexed(client, old):
            version_index.expire(client, old, ttl_s)
            client.srem(keys.PUBLISH_VERSIONS, old)
            expired.append(old)
            continue
        cursor = "0"
        while True:
            # the key routes the script to the node of the layout's slot (cluster)
            args: list[str | int] = [cursor, keys.version_pattern(old), scan_count, ttl_s]
            cursor = _text(step(keys=[keys.PUBLISH_VERSIONS], args=args))
            if str(cursor) == "0":
                break
        client.srem(keys.PUBLISH_VERSIONS, old)
        expired.append(old)
    return expired


def read_recs(
    client: connect.SyncClient, user_id: str, strategy: str = keys.CHAMPION
) -> Scored | None:
    """Reference reader: the current version's list for a user (None if not published)."""
    version = current_version(client)
    if version is None:
        return None
    raw = client.get(keys.user_recs(version, user_id, strategy))
    return codec.decode_scored(raw)
