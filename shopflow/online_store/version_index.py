"""The index of a publish version's keys: expiring an old version touches its own keys only,
instead of scanning the whole keyspace.

Each writer of a version appends the names it writes to ``keys.version_index``
(one JSON array per round trip, in the pipeline that writes them), and a finished publish marks
its meta hash (``INDEXED_FIELD``). Expiring a version reads its index a batch per script call
and gives each named key the TTL: the work follows the version's size, where a SCAN of
``keys.version_pattern`` walks every key in Redis (features, sessions, caches and the older
versions still expiring). A version without the mark (published before the index existed, or
never finished) is expired by SCAN. Erasing a user removes their key names from the indexes
(``scrub``), so no list keeps their id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from shopflow.online_store import keys
from shopflow.online_store.connect import SyncClient

INDEXED_FIELD = "indexed"
"""Field of ``keys.publish_meta``: "1" when the version's index names every key it wrote."""

# One batch (at most a write's chunk of keys) per call: Redis is never held for long.
_EXPIRE_BATCH = """local batch = redis.call('LINDEX', KEYS[1], ARGV[1])
if not batch then return 0 end
for _, key in ipairs(cjson.decode(batch)) do redis.call('EXPIRE', key, ARGV[2]) end
return 1"""
# KEYS: indexes; ARGV: the names to take out of them. Returns how many were taken out.
_SCRUB = """local doomed, removed = {}, 0
for _, name in ipairs(ARGV) do doomed[name] = true end
for _, index in ipairs(KEYS) do
  for i, batch in ipairs(redis.call('LRANGE', index, 0, -1)) do
    local names, kept = cjson.decode(batch), {}
    for _, name in ipairs(names) do
      if doomed[name] then removed = removed + 1 else kept[#kept + 1] = name end
    end
    if #kept < #names then
      redis.call('LSET', index, i - 1, #kept > 0 and cjson.encode(kept) or '[]')
    end
  end
end
return removed"""


def batch(names: Sequence[str]) -> bytes:
    """One index entry: the names of a written batch."""
    return orjson.dumps(list(names))


def _text(value: Any) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def is_indexed(client: SyncClient, version: str) -> bool:
    return _text(client.hget(keys.publish_meta(version), INDEXED_FIELD)) == "1"


def expire(client: SyncClient, version: str, ttl_s: int) -> None:
    """Give every key of an indexed ``version`` (its meta and index too) ``ttl_s``."""
    step = client.register_script(_EXPIRE_BATCH)
    index = keys.version_index(version)
    position = 0
    while step(keys=[index], args=[position, ttl_s]):
        position += 1
    client.expire(keys.publish_meta(version), ttl_s)
    client.expire(index, ttl_s)


def scrub(client: SyncClient, names: Iterable[str]) -> int:
    """Take ``names`` out of the indexes of the versions they belong to; returns how many
    entries were taken out."""
    doomed = sorted({n for n in names if keys.version_of(n) is not None})
    if not doomed:
        return 0
    indexes = sorted({keys.version_index(str(keys.version_of(n))) for n in doomed})
    return int(client.register_script(_SCRUB)(keys=indexes, args=doomed))
