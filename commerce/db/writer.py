"""The SQLite writer queue: write transactions take turns, in this process and across
processes on the same file. SQLite admits one writer and makes the others poll with growing
sleeps (up to 100 ms each) while it is busy, which under contention wastes most of the time
and stretches the tail; a queue hands the database over at once."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from commerce.db import get_engine


class _WriterLock:
    """A thread lock plus an ``flock`` on a file beside the SQLite database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.depth = threading.local()
        self.fd: int | None = None


#: by database URL; not ``beside_engine`` state: a lock belongs to the file and outlives
#: ``reset_engines`` (a new lock object for the same file would wait on the old one)
_writers: dict[str, _WriterLock | None] = {}
_writers_guard = threading.Lock()


def _writer_lock(url_text: str | None) -> _WriterLock | None:
    url = get_engine(url_text).url
    key = str(url)
    if key not in _writers:
        with _writers_guard:
            if key not in _writers:
                db = url.database if url.get_backend_name() == "sqlite" else None
                _writers[key] = (
                    _WriterLock(Path(db + ".writer-lock")) if db and db != ":memory:" else None
                )
    return _writers[key]


@contextmanager
def sqlite_writer(url: str | None = None) -> Iterator[None]:
    """Wait for this database's turn to write (re-entrant; no-op on PostgreSQL). Hold it
    around the whole write transaction, from before its first statement to its commit."""
    writer = _writer_lock(url)
    if writer is None:
        yield
        return
    with writer.lock:
        depth = getattr(writer.depth, "n", 0)
        if depth == 0:
            if writer.fd is None:
                writer.fd = os.open(writer.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(writer.fd, fcntl.LOCK_EX)
        writer.depth.n = depth + 1
        try:
            yield
        finally:
            writer.depth.n = depth
            if depth == 0 and writer.fd is not None:
                fcntl.flock(writer.fd, fcntl.LOCK_UN)
