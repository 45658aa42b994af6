"""Commerce commands in worker threads, admitted on the event loop.

At most ``commerce_write_threads`` commands of a process are under way at once, each in its
own thread, and of those only ``work_slots.count()`` work at once (``commerce.work_slots``); a
command waiting on a remote gateway gives its slot back. Both gates are asyncio semaphores, so
a command waits for its turn on the event loop, holding no thread (waiting in threads cost more).
On 2 cores at 32 clients, SQLite payments went from 143-249 a second (8 commands at once) to
210-271 (2 slots), and later from 258-276 (2 slots) to 328-353 (1 slot); PostgreSQL stayed at
110-149 (4 slots against 8; 2 or 4 slots made no clear difference).

Commands take their place first and their slot second, and a place always has a thread, so a
slot's holder always runs and gives it back: the gates cannot deadlock.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio

from commerce import work_slots
from shopflow.config import get_settings

T = TypeVar("T")


@dataclass
class _Gates:
    places: asyncio.Semaphore
    slots: asyncio.Semaphore
    threads: anyio.CapacityLimiter


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gates] = weakref.WeakKeyDictionary()


class _LoopSlot:
    """A slot of the loop's gate, held by a command's thread."""

    def __init__(self, gate: asyncio.Semaphore, loop: asyncio.AbstractEventLoop) -> None:
        self.gate, self.loop, self.held = gate, loop, True

    def give_back(self) -> None:
        self.held = False
        self.loop.call_soon_threadsafe(self.gate.release)

    def take_again(self) -> None:
        asyncio.run_coroutine_threadsafe(self.gate.acquire(), self.loop).result()
        self.held = True


def _gates_of(loop: asyncio.AbstractEventLoop) -> _Gates:
    gates = _gates.get(loop)
    if gates is None:
        places = get_settings().commerce_write_threads
        gates = _gates[loop] = _Gates(
            asyncio.Semaphore(places),
            asyncio.Semaphore(work_slots.count()),
            anyio.CapacityLimiter(places),
        )
    return gates


async def run(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread, once a place and a work slot are free."""
    loop = asyncio.get_running_loop()
    gates = _gates_of(loop)
    async with gates.places:
        await gates.slots.acquire()
        slot = _LoopSlot(gates.slots, loop)
        try:
            return await anyio.to_thread.run_sync(_holding, slot, fn, *args, limiter=gates.threads)
        finally:
            if slot.held:
                gates.slots.release()


def _holding(slot: _LoopSlot, fn: Callable[..., T], *args: Any) -> T:
    with work_slots.holding(slot):
        return fn(*args)
