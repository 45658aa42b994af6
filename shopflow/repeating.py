"""Run a call every few seconds on a thread while a block runs (lease and lock renewals)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def repeating(call: Callable[[], None], every_s: float, name: str) -> Iterator[None]:
    """Call ``call`` every ``every_s`` seconds until the block ends. The first error ``call``
    raises stops the repeats and is raised when the block ends (unless the block raised)."""
    done = threading.Event()
    errors: list[Exception] = []

    def run() -> None:
        while not done.wait(every_s):
            try:
                call()
            except Exception as exc:  # noqa: BLE001  # raised in the caller's thread below
                errors.append(exc)
                return

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    if errors:
        raise errors[0]
