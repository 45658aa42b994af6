"""A shared HTTP load generator for benchmarks: ``wrk`` (Debian package, installed on demand
when we are root) driven by a Lua script that picks request paths at random, or a pure-Python
asyncio keep-alive client when wrk is unavailable. Both report requests/s, p50 and p99.

    from benchmarks.loadgen import run_load, wait_ready
    wait_ready("http://127.0.0.1:8000/health")
    result = run_load("http://127.0.0.1:8000", ["/recommendations/u1", ...], duration_s=10)
    print(result.line("recommendations"))
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

_SAFE_PATH = re.compile(r"^/[\x21-\x7e]*$")


@dataclass(frozen=True)
class LoadResult:
    tool: str
    requests: int
    duration_s: float
    errors: int
    """Socket errors, timeouts and non-2xx/3xx responses."""
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def line(self, label: str) -> str:
        return (
            f"{label:<28} {self.rps:9.0f} req/s   p50 {self.p50_ms:7.2f} ms   "
            f"p99 {self.p99_ms:7.2f} ms   errors {self.errors}   ({self.tool})"
        )


def combine(results: Sequence[LoadResult]) -> LoadResult:
    """Several rounds as one: summed requests, time and errors; median of the rounds' p50/p99
    (interleaving short rounds of two targets evens out a busy machine's noise)."""
    if not results:
        raise ValueError("nothing to combine")
    return LoadResult(
        tool=results[0].tool,
        requests=sum(r.requests for r in results),
        duration_s=sum(r.duration_s for r in results),
        errors=sum(r.errors for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
    )


def ensure_wrk(install: bool = True) -> str | None:
    """Path of ``wrk``; installs Debian's package when missing and we are root."""
    found = shutil.which("wrk")
    if found or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install_wrk = ["apt-get", "install", "-y", "-q", "wrk"]
    for argv in (install_wrk, ["apt-get", "update", "-q"], install_wrk):  # lists may be stale
        try:
            subprocess.run(argv, env=env, capture_output=True, timeout=300, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if shutil.which("wrk"):
            break
    return shutil.which("wrk")


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a process and its live children (uvicorn's workers) have
    used so far; None off Linux. CPU per request is a steadier figure than requests/s on a
    machine shared with other work."""
    stats: dict[int, tuple[int, int]] = {}  # pid -> (parent pid, CPU ticks)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:  # gone meanwhile
                continue
            stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    if pid not in stats:
        return None
    ticks = stats[pid][1] + sum(t for parent, t in stats.values() if parent == pid)
    return ticks / os.sysconf("SC_CLK_TCK")


ROOT = Path(__file__).resolve().parent.parent


def bench_workers(default: int = 1) -> int:
    """uvicorn worker processes of each server under test, baseline included:
    ``SHOPFLOW_BENCH_WORKERS``, else ``default`` (to see how a figure scales with workers)."""
    return int(os.environ.get("SHOPFLOW_BENCH_WORKERS", default))


UVICORN_FLAGS = ["--workers", str(bench_workers()), "--no-access-log", "--log-level", "warning"]


BASELINE_BODY: dict[str, object] = {
    "user_id": "u1",
    "items": [
        {"item_id": f"i{n}", "score": 1.0 - n / 100, "title": f"Item {n}"} for n in range(10)
    ],
}


def baseline_app() -> object:
    """The HTTP benchmarks' baseline: a bare FastAPI endpoint returning constant JSON."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/constant")
    async def constant() -> dict[str, object]:
        return BASELINE_BODY

    return app


BASELINE_APP = "benchmarks.loadgen:baseline_app"


def bearer(user: str = "loadgen", role: str = "service") -> dict[str, str]:
    """The ``Authorization`` header of a JWT for the API under load, signed with this
    process's settings (the servers it starts share its environment, hence the secret)."""
    from commerce.auth import mint_token

    return {"Authorization": f"Bearer {mint_token(user, [role])}"}


@contextmanager
def uvicorn_server(
    app_spec: str,
    env: dict[str, str],
    ready_path: str,
    flags: Sequence[str] = UVICORN_FLAGS,
    headers: dict[str, str] | None = None,
) -> Iterator[tuple[str, int]]:
    """A uvicorn server (app factory ``app_spec``) on a free port; yields (base URL, pid)."""
    from shopflow import embedded

    port = embedded.free_port()
    argv = [sys.executable, "-m", "uvicorn", app_spec, "--factory", "--port", str(port)]
    server = subprocess.Popen([*argv, *flags], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base + ready_path, headers=headers)
        yield base, server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


UNTHROTTLED = json.dumps(
    {name: "1000000000/minute" for name in ("read", "write", "sensitive", "auth_failure")}
)
"""Rate limit budgets for load from one address: every request is counted, none refused."""


def api_env(**values: str) -> dict[str, str]:
    """This process's environment for an API server under load, plus ``values``: rate limit
    budgets that refuse nothing (load comes from one address) and logs in JSON, as deployed."""
    return {
        **os.environ,
        "SHOPFLOW_RATE_LIMITS": UNTHROTTLED,
        "SHOPFLOW_LOG_FORMAT": "json",
        **values,
    }


@contextmanager
def redis_home(prefix: str, prepare: Callable[[str], object]) -> Iterator[dict[str, str]]:
    """A temporary SHOPFLOW_HOME with an embedded Redis that ``prepare(redis_url)`` fills
    first; yields the environment for :func:`uvicorn_server` (``api_env``); stops the servers
    after."""
    from shopflow import embedded
    from shopflow.config import Settings

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        settings = Settings(home=Path(tmp))
        settings.ensure_dirs()
        try:
            redis_url = embedded.start_redis(settings).url
            prepare(redis_url)
            yield api_env(SHOPFLOW_HOME=tmp, REDIS_URL=redis_url)
        finally:
            embedded.stop_all(settings)


def rounds_header(connections: int, rounds: int, round_s: float) -> str:
    """The first line of a :func:`compare` run's output: the load and the server flags."""
    return (
        f"{connections} connections, {rounds} interleaved rounds of {round_s:g} s each, "
        f"uvicorn {' '.join(UVICORN_FLAGS)}"
    )


def wait_ready(url: str, timeout_s: float = 60.0, headers: dict[str, str] | None = None) -> None:
    """Poll ``url`` (with ``headers``) until it answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer 200 within {timeout_s:.0f}s")


@dataclass(frozen=True)
class Target:
    """A server under load: its label, base URL, process (for CPU) and request paths."""

    label: str
    url: str
    pid: int
    paths: Sequence[str]
    headers: dict[str, str] | None = None


def compare(
    targets: Sequence[Target], *, rounds: int, round_s: float, warmup_s: float, connections: int
) -> list[float]:
    """Warm every target up, load them in interleaved rounds (so all see the same machine
    load), then print each one's figures with its server CPU per request, and each one's
    ratio to the first (the baseline): req/s, with the range over rounds, and CPU per request
    (steadier than req/s on a shared machine). Returns each later target's req/s ratio."""
    for target in targets:  # warm-up, not counted
        run_load(
            target.url, target.paths, duration_s=warmup_s, connections=connections,
            headers=target.headers,
        )  # fmt: skip
    results: list[list[LoadResult]] = [[] for _ in targets]
    cpu_s = [0.0] * len(targets)
    for _ in range(rounds):
        for n, target in enumerate(targets):
            before = process_cpu_s(target.pid) or 0.0
            results[n].append(
                run_load(
                    target.url,
                    target.paths,
                    duration_s=round_s,
                    connections=connections,
                    headers=target.headers,
                )  # fmt: skip
            )
            cpu_s[n] += (process_cpu_s(target.pid) or 0.0) - before
    combined = [combine(r) for r in results]
    cpu_ms = [1000 * c / max(1, r.requests) for c, r in zip(cpu_s, combined, strict=True)]
    for target, result, ms in zip(targets, combined, cpu_ms, strict=True):
        print(result.line(target.label) + f"   server CPU {ms:.3f} ms/req")
    base = targets[0].label
    ratios = []
    for n, target in enumerate(targets[1:], start=1):
        if combined[n].errors:
            print(f"WARNING: {combined[n].errors} errors during {target.label}")
        per_round = sorted(o.rps / b.rps for b, o in zip(results[0], results[n], strict=True))
        print(
            f"ratio {target.label} / {base}: {combined[n].rps / combined[0].rps:.2f} "
            f"(rounds {per_round[0]:.2f}..{per_round[-1]:.2f}); CPU per request ratio "
            f"{base} / {target.label}: {cpu_ms[0] / max(cpu_ms[n], 1e-9):.2f}"
        )
        ratios.append(combined[n].rps / combined[0].rps)
    return ratios


def _check_paths(paths: Sequence[str]) -> None:
    if not paths:
        raise ValueError("run_load needs at least one path")
    bad = [p for p in paths if not _SAFE_PATH.match(p)]
    if bad:
        raise ValueError(f"paths must start with / and be URL-encoded ASCII: {bad[:3]}")


def _lua_script(
    paths: Sequence[str], method: str, headers: dict[str, str], body: bytes | None
) -> str:
    # JSON string literals are valid Lua string literals for URL-safe ASCII.
    lua_paths = ",\n".join(json.dumps(p) for p in paths)
    lua_headers = ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    lua_body = json.dumps(body.decode()) if body is not None else "nil"
    return f"""
local paths = {{
{lua_paths}
}}
local n = #paths
local headers = {{ {lua_headers} }}
local body = {lua_body}
setup = function(thread) thread:set("seed", math.random(1, 2147483647)) end
init = function(args) math.randomseed(seed or os.time()) end
request = function()
  return wrk.format({json.dumps(method)}, paths[math.random(1, n)], headers, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("LOADGEN %d %d %d %d %.1f %.1f\\n", summary.requests,
    summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _run_wrk(
    wrk: str,
    base_url: str,
    paths: Sequence[str],
    duration_s: float,
    connections: int,
    threads: int,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_lua_script(paths, method, headers, body))
    try:
        argv = [
            wrk, "-t", str(threads), "-c", str(max(connections, threads)),
            "-d", f"{max(1, round(duration_s))}s", "--timeout", "10s",
            "-s", script.name, base_url,
        ]  # fmt: skip
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60)
    finally:
        os.unlink(script.name)
    match = re.search(r"^LOADGEN (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+)$", proc.stdout, re.M)
    if proc.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    reqs, dur_us, sock_err, status_err, p50_us, p99_us = match.groups()
    return LoadResult(
        tool="wrk",
        requests=int(reqs),
        duration_s=int(dur_us) / 1e6,
        errors=int(sock_err) + int(status_err),
        p50_ms=float(p50_us) / 1000,
        p99_ms=float(p99_us) / 1000,
    )


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response (Content-Length bodies); return its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value)
        elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
            raise RuntimeError("the Python load generator does not read chunked bodies")
    if length:
        await reader.readexactly(length)
    return status


async def _python_load(
    base_url: str,
    paths: Sequence[str],
    duration_s: float,
    connections: int,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
) -> LoadResult:
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    if body is not None:
        extra += f"Content-Length: {len(body)}\r\n"
    requests = [
        f"{method} {p} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode() + (body or b"")
        for p in paths
    ]
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration_s

    async def worker(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                writer.write(requests[rng.randrange(len(requests))])
                status = await _read_response(reader)
                latencies.append(time.perf_counter() - start)
                errors += status >= 400
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(q: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0
        )

    return LoadResult("python", len(latencies), elapsed, errors, pct(0.50), pct(0.99))


def run_load(
    base_url: str,
    paths: Sequence[str],
    duration_s: float = 10.0,
    connections: int = 50,
    threads: int = 1,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    use_wrk: bool = True,
) -> LoadResult:
    """Drive ``base_url`` with keep-alive requests to paths picked at random from ``paths`` for
    ``duration_s`` over ``connections`` connections; wrk when available, else Python."""
    _check_paths(paths)
    headers = dict(headers or {})
    wrk = ensure_wrk() if use_wrk else None
    if wrk:
        return _run_wrk(
            wrk, base_url, paths, duration_s, connections, threads, method, headers, body
        )
    try:
        import uvloop

        runner: Callable[..., Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    return runner(_python_load(base_url, paths, duration_s, connections, method, headers, body))
