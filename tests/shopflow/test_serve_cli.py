"""``shopflow serve`` as a real subprocess: it migrates, starts Redis, serves, stops on SIGTERM."""

from __future__ import annotations

import socket

import httpx

from commerce.auth import mint_token
from shopflow import embedded
from shopflow.config import Settings
from tests.serve_process import serve, serving, stop, wait_healthy


def test_serve_answers_health_and_stops_cleanly_on_sigterm(shopflow_home: Settings) -> None:
    port = embedded.free_port()
    with serving(shopflow_home, "--port", str(port), "--workers", "2") as proc:
        health = wait_healthy(proc, f"http://127.0.0.1:{port}/health")
        assert health["status"] == "ok" and health["checks"]["redis"]["ok"]
        assert (shopflow_home.home_dir / "shopflow.db").exists()  # migrated before serving
        assert embedded.status(shopflow_home)["redis"] is not None  # embedded Redis started
        url = f"http://127.0.0.1:{port}/recommendations/u1"
        assert httpx.get(url, timeout=5).status_code == 401  # no token
        bearer = {"Authorization": f"Bearer {mint_token('u1')}"}
        missing = httpx.get(url, headers=bearer, timeout=5)
        assert missing.status_code == 503  # nothing published in a fresh home
        out = stop(proc)
    assert proc.returncode == 0, out
    assert "Shopflow API on" in out
    assert "API: development mode" in out  # nothing configured: dev mode, said at start-up


def test_serve_refuses_a_busy_port(shopflow_home: Settings) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = serve(shopflow_home, "--port", str(port))
        proc.wait(timeout=60)
    out = proc.output()
    assert proc.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in out
