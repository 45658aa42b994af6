"""SIGTERM ends ``shopflow serve`` within 10 s after WebSocket sessions, with WebSockets
open and a request in flight,
with Redis up and with Redis down (the fan-out reader used to swallow its cancellation)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from commerce.auth import mint_token
from shopflow.config import Settings
from tests.faults.api_proc import api, redis_server
from tests.serving.fakes.commerce import auth

SOCKETS = 3


async def _open_sockets(base: str) -> list[object]:
    sockets = []
    for n in range(SOCKETS):
        token = mint_token(f"ws-user-{n}", ["customer"])
        ws = await connect(base.replace("http", "ws") + f"/ws/notifications?token={token}")
        assert json.loads(await ws.recv())["type"] == "ready"
        sockets.append(ws)
    return sockets


def _exit_within(proc: subprocess.Popen[str], limit_s: float) -> float:
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=limit_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"shopflow serve did not exit within {limit_s} s of SIGTERM")
    return time.monotonic() - start


@pytest.mark.parametrize("redis_state", ["up", "down"])
def test_sigterm_with_open_websockets(
    shopflow_home: Settings, tmp_path: Path, redis_state: str
) -> None:
    with redis_server(tmp_path / "redis") as store, api(shopflow_home, store.url) as (proc, base):

        async def scenario() -> float:
            for ws in await _open_sockets(base):  # sessions that ended before
                await ws.close()  # type: ignore[attr-defined]
            sockets = await _open_sockets(base)
            if redis_state == "down":
                store.stop()
            in_flight = threading.Thread(  # a request the server is still answering
                target=lambda: _quietly(
                    lambda: httpx.get(f"{base}/api/orders", headers=auth("a"), timeout=15)
                )
            )
            in_flight.start()
            took = await asyncio.to_thread(_exit_within, proc, 10)
            in_flight.join()
            for ws in sockets:
                await ws.close()  # type: ignore[attr-defined]
            return took

        took = asyncio.run(scenario())
        print(f"\nexit {took:.2f} s after SIGTERM ({SOCKETS} WebSockets, Redis {redis_state})")
        output = proc.output()
        # uvicorn re-raises the signal once its graceful shutdown is complete
        assert proc.returncode in (0, -signal.SIGTERM), output
        assert "Application shutdown complete" in output, output


def _quietly(call: object) -> None:
    with contextlib.suppress(httpx.TransportError):
        call()  # type: ignore[operator]
