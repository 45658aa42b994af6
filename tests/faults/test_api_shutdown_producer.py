"""SIGTERM stops ``shopflow serve`` within 10 s while the event producer has messages in
flight: the broker is paused (SIGSTOP) with a POST /events waiting for its delivery reports
(a long delivery timeout keeps them in flight), so the drain and the producer's flush hit
their deadlines (``api_drain_s``, ``api_close_s``) and the process exits anyway."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest

from shopflow import embedded
from shopflow.config import Settings
from tests.broker import broker_pid

from .conftest import ingest_headers, spawn, view_events, wait_for

pytestmark = pytest.mark.integration


def test_sigterm_with_producer_messages_in_flight(
    fault_home: Settings,
    processes,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    monkeypatch.setenv("SHOPFLOW_EVENTS_DELIVERY_TIMEOUT_MS", "60000")
    from commerce.db import migrate

    migrate.upgrade()
    port = embedded.free_port()
    api = processes(spawn(fault_home, "serve", "--port", str(port)))
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(base, api), 120, "the API answering /livez", step=0.2)
    headers = ingest_headers()
    warm = httpx.post(f"{base}/events", json=view_events("warm", 5), headers=headers, timeout=30)
    assert warm.status_code == 202, warm.text  # the producer exists and is connected
    pid = broker_pid(fault_home)
    answers: list[object] = []

    def post() -> None:
        try:
            answers.append(
                httpx.post(
                    f"{base}/events", json=view_events("inflight", 50), headers=headers, timeout=60
                ).status_code
            )
        except httpx.TransportError as exc:
            answers.append(type(exc).__name__)

    os.kill(pid, signal.SIGSTOP)
    try:
        sender = threading.Thread(target=post)
        sender.start()
        time.sleep(1.0)  # the request waits for the paused broker's delivery reports
        assert not answers, "the request should still be waiting for the broker"
        took = api.terminate_timed(15)
        print(f"\nexit {took:.2f} s after SIGTERM with events in flight")
        assert took < 10, api.output()
        sender.join(10)
        assert answers and answers[0] != 202  # never told "accepted" for unconfirmed events
    finally:
        os.kill(pid, signal.SIGCONT)


def _answers(base: str, api) -> bool:  # noqa: ANN001
    assert api.alive(), api.output()
    try:
        return httpx.get(f"{base}/livez", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
