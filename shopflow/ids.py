"""Random ids for hot paths: ``uuid4`` is ``uuid.uuid4()`` (the same 122 random bits from
``os.urandom``, the same version and variant), drawn from a per-thread buffer so that an event
batch or a busy request log reads the system's random source once per 256 ids. (Each read
releases the GIL, and under load a thread that releases it waits to get it back.)"""

from __future__ import annotations

import os
import threading
import uuid

_BUFFER = 4096
"""Random bytes read at once: 256 ids."""


class _Pool(threading.local):
    def __init__(self) -> None:
        self.data = b""
        self.at = 0


_pool = _Pool()


def _fresh_pool() -> None:
    """A forked child must not hand out the ids its parent's buffer still holds."""
    global _pool
    _pool = _Pool()


os.register_at_fork(after_in_child=_fresh_pool)


_CLEAR = ~(0xF000 << 64 | 0xC000 << 48)
_SET = 0x4000 << 64 | 0x8000 << 48
"""The version (4) and variant (RFC 4122) bits, as ``uuid.UUID(..., version=4)`` sets them."""


def _random_128() -> int:
    pool = _pool
    if pool.at + 16 > len(pool.data):
        pool.data, pool.at = os.urandom(_BUFFER), 0
    start = pool.at
    pool.at = start + 16
    return int.from_bytes(pool.data[start : start + 16])


def uuid4() -> uuid.UUID:
    """A random UUID (version 4)."""
    return uuid.UUID(int=_random_128() & _CLEAR | _SET)


def uuid4_hex() -> str:
    """A random UUID (version 4) as 32 hex digits (without a UUID object: an event batch
    draws one per event)."""
    return f"{_random_128() & _CLEAR | _SET:032x}"
