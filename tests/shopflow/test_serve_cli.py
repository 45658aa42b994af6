"""``shopflow serve`` as a real subprocess: it migrates, starts Redis, serves, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from shopflow import services
from shopflow.config import Settings

SHOPFLOW = [sys.executable, "-m", "shopflow.cli"]


def _serve(settings: Settings, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SHOPFLOW_HOME": str(settings.home_dir)}
    return subprocess.Popen(
        [*SHOPFLOW, "serve", "--no-access-log", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_healthy(proc: subprocess.Popen[str], url: str, deadline_s: float = 240) -> dict:
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


def test_serve_answers_health_and_stops_cleanly_on_sigterm(shopflow_home: Settings) -> None:
    port = services.free_port()
    proc = _serve(shopflow_home, "--port", str(port), "--workers", "2")
    try:
        health = _wait_healthy(proc, f"http://127.0.0.1:{port}/health")
        assert health["status"] == "ok" and health["checks"]["redis"]["ok"]
        assert (shopflow_home.home_dir / "shopflow.db").exists()  # migrated before serving
        assert services.status(shopflow_home)["redis"] is not None  # embedded Redis started
        missing = httpx.get(f"http://127.0.0.1:{port}/recommendations/u1", timeout=5)
        assert missing.status_code == 503  # nothing published in a fresh home
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "Shopflow API on" in out


def test_serve_refuses_a_busy_port(shopflow_home: Settings) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _serve(shopflow_home, "--port", str(port))
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in out
