"""A bounded stop: after SIGTERM a worker finishes what it can, but never for longer than
``Settings.shutdown_grace_s`` (a clean close can hang on a paused broker). Exiting early loses
nothing: offsets not committed are re-read, outbox rows not stamped are republished, both
deduplicated on ``event_id``."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("shopflow.shutdown")
_armed = threading.Lock()
#: Exit status of a process that its grace period ended (EX_TEMPFAIL: try again).
FORCED_EXIT = 75


def exit_within(seconds: float) -> None:
    """End the process after ``seconds`` unless it exits first (armed once per process)."""
    if not _armed.acquire(blocking=False):
        return

    def force() -> None:
        log.warning("shutdown took longer than %.1fs; exiting now", seconds)
        os._exit(FORCED_EXIT)

    timer = threading.Timer(seconds, force)
    timer.daemon = True
    timer.start()


@contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    """Exit the process if the block runs longer than ``seconds`` (a close that hangs on a
    paused broker); the timer is cancelled when the block ends in time."""

    def force() -> None:
        log.warning("%s took longer than %.1fs; exiting now", what, seconds)
        os._exit(FORCED_EXIT)

    timer = threading.Timer(seconds, force)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
