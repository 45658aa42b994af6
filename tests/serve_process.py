"""``shopflow serve`` as a real subprocess, for the tests that need its workers and signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx

from shopflow.config import Settings


class Server(subprocess.Popen[str]):
    """A server process whose output a thread keeps reading, so that a full pipe never
    blocks it (it logs a line per request); ``output()`` is what it wrote so far."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        super().__init__(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.stdout is not None
        for line in self.stdout:
            self._lines.append(line)

    def output(self) -> str:
        """Everything written so far; all of it once the process has exited."""
        if self.poll() is not None:
            self._reader.join(timeout=10)
        return "".join(self._lines)


def serve(settings: Settings, *args: str, env: Mapping[str, str | None] | None = None) -> Server:
    """Start ``shopflow serve --no-access-log ARGS`` on ``settings``' home, with ``env`` over
    this process's environment (None removes a variable); its output is kept (``output()``)."""
    merged = {**os.environ, **(env or {}), "SHOPFLOW_HOME": str(settings.home_dir)}
    return Server(
        [sys.executable, "-m", "cli.main", "serve", "--no-access-log", *args],
        {k: v for k, v in merged.items() if v is not None},
    )


@contextmanager
def serving(
    settings: Settings, *args: str, env: Mapping[str, str | None] | None = None
) -> Iterator[Server]:
    """``serve``, killed on the way out if the test left it running."""
    proc = serve(settings, *args, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop(proc: Server) -> str:
    """SIGTERM, then the server's output once it has exited (within 60 s)."""
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    return proc.output()


def wait_healthy(proc: Server, url: str, deadline_s: float = 240) -> dict:
    """The JSON of ``url`` once it answers 200; fails with the server's output if it exits."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.output()
        try:
            resp = httpx.get(url, timeout=2)
            if resp.status_code == 200:
                return resp.json()
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {deadline_s}s")
