"""Fault runs against real processes: the embedded broker (durable storage), the API, the
outbox relay and a consumer, each a subprocess of its own. Helpers here are shared by the
``test_bus_*`` files; the helpers take plain arguments so other fault tests can use them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from commerce.auth import mint_token
from shopflow import embedded, topics
from shopflow.config import Settings, get_settings

SERVICE_ENV = ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "MLFLOW_TRACKING_URI")


@pytest.fixture
def fault_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A fresh SHOPFLOW_HOME with the durable embedded broker started; the environment names
    it (KAFKA_BOOTSTRAP_SERVERS), so child processes reconnect to it and never start their
    own. Short relay lease and quick sink rolls keep the runs short."""
    monkeypatch.setenv("SHOPFLOW_HOME", str(tmp_path / "home"))
    for name in SERVICE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHOPFLOW_KAFKA_STORAGE", "durable")
    monkeypatch.setenv("SHOPFLOW_RELAY_LEASE_S", "3")
    monkeypatch.setenv("SHOPFLOW_RELAY_INTERVAL_S", "0.1")
    monkeypatch.setenv("SHOPFLOW_SINK_ROLL_SECONDS", "0.5")
    monkeypatch.setenv("SHOPFLOW_STREAM_BATCH_WAIT_MS", "50")
    # the traffic threads post far past one caller's budget; limits have their own tests
    unlimited = '{"read": "1000000/minute", "write": "1000000/minute"}'
    monkeypatch.setenv("SHOPFLOW_RATE_LIMITS", unlimited)
    get_settings.cache_clear()
    settings = get_settings()
    settings.ensure_dirs()
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", embedded.start_kafka(settings).url)
    get_settings.cache_clear()
    yield get_settings()
    embedded.stop_all(settings)
    get_settings.cache_clear()


def spawn(settings: Settings, *args: str, env: Mapping[str, str] | None = None) -> Process:
    """``shopflow ARGS`` as a subprocess on ``settings``' home; output goes to a log file."""
    log = settings.home_dir / f"{args[0]}-{uuid.uuid4().hex[:6]}.log"
    out = log.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        env={**os.environ, **(env or {}), "SHOPFLOW_HOME": str(settings.home_dir)},
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    out.close()
    return Process(proc, log)


class Process:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc, self.log = proc, log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate_timed(self, limit_s: float = 30.0) -> float:
        """SIGTERM; the seconds until it exited."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(limit_s)
        return time.monotonic() - started

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(30)


@pytest.fixture
def processes() -> Iterator[Callable[[Process], Process]]:
    """Register a process to be killed when the test ends (whatever happened)."""
    started: list[Process] = []
    yield lambda p: started.append(p) or p
    for p in started:
        p.kill()


def wait_for(check: Callable[[], bool], timeout_s: float, what: str, step: float = 0.1) -> float:
    """Seconds until ``check()`` held; fails after ``timeout_s``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{what}: not within {timeout_s}s")
        time.sleep(step)
    return time.monotonic() - started


def start_api(settings: Settings, processes: Callable[[Process], Process]) -> str:
    """``shopflow serve`` on a free port; its base URL once /health answers."""
    port = embedded.free_port()
    api = processes(spawn(settings, "serve", "--no-access-log", "--port", str(port)))
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert api.alive(), api.output()
        try:
            return httpx.get(f"{base}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, 120, "the API answering /health", step=0.2)
    return base


def ingest_headers() -> dict[str, str]:
    """A service token: it may post events for any user (the storefront's backend)."""
    return {"Authorization": "Bearer " + mint_token("storefront", ["service"])}


def view_events(prefix: str, n: int) -> list[dict[str, object]]:
    """``n`` product views with event ids ``prefix-0..n-1`` (a retry resends the same ids)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return [
        {"event_id": f"{prefix}-{i}", "event_type": "product_view", "user_id": f"u{i % 50}",
         "session_id": "s1", "occurred_at": now, "payload": {"item_id": f"i{i % 70}"}}
        for i in range(n)
    ]  # fmt: skip


def topic_event_ids(settings: Settings, topic: topics.Topic, idle_s: float = 3.0) -> list[str]:
    """Every event id on ``topic`` from offset 0 (duplicates kept), read until nothing new
    came for ``idle_s`` (Tansu's high watermarks are not exact enough to stop at)."""
    name = topic.name(settings)
    group = f"check-{uuid.uuid4().hex}"
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": group})
    try:
        consumer.assign([TopicPartition(name, p, 0) for p in range(topic.partitions)])
        ids: list[str] = []
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle_s:
            messages = consumer.consume(1000, 0.5)
            for msg in messages:
                if msg.error() is None:
                    ids.append(_event_id(msg.value() or b""))
            if messages:
                quiet_since = time.monotonic()
        return ids
    finally:
        consumer.close()


def _event_id(value: bytes) -> str:
    import orjson

    return str(orjson.loads(value)["event_id"])
