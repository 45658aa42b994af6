"""The first level of the review read cache: response bodies this process served, kept in
its memory under the cache versions they were read under (``commerce.cache_versions``).

The versions are read from the database on every request, so a body is served only while
they are still current, exactly like an entry of the shared Redis cache (the second level);
a hit then costs no Redis round trip and no JSON work. One cache per database engine (a new
engine, e.g. another ``DATABASE_URL``, starts empty), least recently used bodies dropped
beyond ``Settings.review_local_cache_bytes``. Used from the event loop only."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from commerce.db import beside_engine
from shopflow.config import get_settings


class LocalBodies:
    """Bodies by key, least recently used first out beyond ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()

    def get(self, key: Hashable) -> bytes | None:
        body = self._items.get(key)
        if body is not None:
            self._items.move_to_end(key)
        return body

    def put(self, key: Hashable, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        old = self._items.pop(key, None)
        self.size += len(body) - (len(old) if old is not None else 0)
        self._items[key] = body
        while self.size > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self.size -= len(dropped)

    def __len__(self) -> int:
        return len(self._items)


def bodies() -> LocalBodies:
    """This process's cache for the current database."""
    return beside_engine(
        "reviews.local_bodies", lambda: LocalBodies(get_settings().review_local_cache_bytes)
    )
