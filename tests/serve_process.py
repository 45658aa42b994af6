"""``shopflow serve`` as a real subprocess, for the tests that need its workers and signals."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from shopflow.config import Settings


def serve(
    settings: Settings, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start ``shopflow serve --no-access-log ARGS`` on ``settings``' home; output is piped."""
    environ = {**os.environ, **(env or {}), "SHOPFLOW_HOME": str(settings.home_dir)}
    return subprocess.Popen(
        [sys.executable, "-m", "shopflow.cli", "serve", "--no-access-log", *args],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


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
