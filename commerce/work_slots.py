"""Work slots: how many commerce commands of a process run their Python at once.

The web layer admits a command to a slot before its thread starts (``serving.command_threads``)
and marks the thread as holding it (``holding``). While the command waits on a remote party
such as a payment gateway (``waiting``), it gives the slot back, so a slow gateway does not
starve the database work of other requests; it takes one again before it goes on. More
commands working at once do not add throughput: they contend for the GIL and, on SQLite, for
the one write lock, which stretches every transaction they hold.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from commerce.db import get_engine
from shopflow.config import get_settings


class Slot(Protocol):
    def give_back(self) -> None: ...

    def take_again(self) -> None:
        """Wait for a free slot and hold it."""


_held = threading.local()


def count() -> int:
    """``commerce_work_slots``, or the database's default: 1 on SQLite (one writer at a
    time; a second slot cost 20-30 % of payments a second), 4 on PostgreSQL (a few overlap
    their round trips)."""
    chosen = get_settings().commerce_work_slots
    if chosen is not None:
        return chosen
    return 4 if get_engine().dialect.name == "postgresql" else 1


@contextmanager
def holding(slot: Slot) -> Iterator[None]:
    """This thread works in ``slot`` while the block runs."""
    _held.slot = slot
    try:
        yield
    finally:
        _held.slot = None


@contextmanager
def waiting() -> Iterator[None]:
    """Give this thread's slot back while the block waits on a remote party, and take one
    again after (no-op in a thread that holds none). Call it outside database transactions:
    a waiting thread must hold no lock another command needs."""
    slot: Slot | None = getattr(_held, "slot", None)
    if slot is None:
        yield
        return
    _held.slot = None
    slot.give_back()
    try:
        yield
    finally:
        slot.take_again()
        _held.slot = slot
