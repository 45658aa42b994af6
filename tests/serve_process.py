"""``shopflow serve`` as a real subprocess, for the tests that need its workers and signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx

from shopflow.config import Settings


def serve(
    settings: Settings, *args: str, env: Mapping[str, str | None] | None = None
) -> subprocess.Popen[str]:
    """Start ``shopflow serve --no-access-log ARGS`` on ``settings``' home, with ``env`` over
    this process's environment (None removes a variable); output is piped."""
    merged = {**os.environ, **(env or {}), "SHOPFLOW_HOME": str(settings.home_dir)}
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--no-access-log", *args],
        env={k: v for k, v in merged.items() if v is not None},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@contextmanager
def serving(
    settings: Settings, *args: str, env: Mapping[str, str | None] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """``serve``, killed on the way out if the test left it running."""
    proc = serve(settings, *args, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def stop(proc: subprocess.Popen[str]) -> str:
    """SIGTERM, then the server's output once it has exited (within 60 s)."""
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=60)[0]


def wait_healthy(proc: subprocess.Popen[str], url: str, deadline_s: float = 240) -> dict:
    """The JSON of ``url`` once it answers 200; fails with the server's output if it exits."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            resp = httpx.get(url, timeout=2)
            if resp.status_code == 200:
                return resp.json()
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {deadline_s}s")
