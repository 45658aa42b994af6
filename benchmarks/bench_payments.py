"""Payments throughput: create + confirm per second at 32 concurrent clients, p50 and p99,
on SQLite and on PostgreSQL, against a bare FastAPI endpoint that inserts one row into the
same database in the same run (the same uvicorn settings for both: ``WORKERS`` processes,
the embedded test gateway). Every create and confirm carries an Idempotency-Key, as a real
client's would. The load generator is a lean keep-alive HTTP/1.1 client (asyncio streams),
so the client's own CPU takes little from the servers on a small machine.

    .venv/bin/python -m benchmarks payments
    SHOPFLOW_BENCH_WORKERS=1 .venv/bin/python -m benchmarks payments
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx

from benchmarks.loadgen import api_env, bench_workers

CLIENTS = 32
DURATION_S = 6.0
ORDERS = 8_000
WORKERS = bench_workers(2)
SEED_TPS, SEED_LATENCY_MS = 100, 500


def _bare_table() -> Any:
    from sqlalchemy import Column, Integer, MetaData, String, Table

    return Table(
        "bench_rows",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("payload", String(64)),
    )


def bare_app() -> Any:
    """The baseline: FastAPI + one INSERT per request on the same database."""
    from fastapi import FastAPI
    from sqlalchemy import insert

    from commerce.db import get_engine

    table = _bare_table()
    app = FastAPI()

    @app.post("/bare", status_code=201)
    def bare() -> dict[str, bool]:
        with get_engine().begin() as con:
            con.execute(insert(table).values(payload="x"))
        return {"ok": True}

    return app


def _prepare(url: str) -> list[str]:
    """Migrate, add a product and ORDERS placed orders (bulk, outside the measurement)."""
    from sqlalchemy import insert

    from commerce.db import get_engine, migrate, utcnow
    from commerce.db.models.commerce import Order, Product

    migrate.upgrade(url)
    _bare_table().create(get_engine(url), checkfirst=True)
    now = utcnow()
    ids = [f"ord_bench_{i}" for i in range(ORDERS)]
    with get_engine(url).begin() as con:
        con.execute(insert(Product).values(
            id="bench-p", title="Bench", description="", category="c", brand="",
            price_minor=1000, currency="USD", stock=0, attributes={},
            created_at=now, updated_at=now,
        ))  # fmt: skip
        rows = [
            {"id": i, "user_id": "bench-user", "status": "PLACED", "total_minor": 1000,
             "currency": "USD", "created_at": now, "updated_at": now}
            for i in ids
        ]  # fmt: skip
        for start in range(0, len(rows), 2000):
            con.execute(insert(Order), rows[start : start + 2000])
    return ids


@contextlib.contextmanager
def _servers(env: dict[str, str], apps: list[tuple[str, str]]) -> Iterator[list[str]]:
    """Start a uvicorn server per (app factory, readiness path), all at once; yields URLs.
    Each server's log goes to a temporary file (a pipe nobody reads would fill and stall it)."""
    from shopflow.embedded import free_port

    procs: list[tuple[subprocess.Popen[bytes], str, str, IO[bytes]]] = []
    logs = contextlib.ExitStack()
    try:
        for target, probe in apps:
            port = free_port()
            log = logs.enter_context(tempfile.TemporaryFile())  # noqa: SIM115  (the stack closes it)
            proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", target, "--factory", "--port", str(port),
                 "--workers", str(WORKERS), "--log-level", "warning", "--no-access-log"],
                env=env, stdout=subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
            procs.append((proc, f"http://127.0.0.1:{port}", probe, log))
        deadline = time.monotonic() + 90
        for proc, base, probe, server_log in procs:
            while True:
                try:
                    if httpx.get(base + probe, timeout=1).status_code < 500:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {_tail(server_log)}")
                time.sleep(0.2)
        yield [base for _, base, _, _ in procs]
    finally:
        for proc, *_ in procs:
            proc.terminate()
        for proc, *_ in procs:
            proc.wait(30)
        logs.close()


def _tail(log: IO[bytes]) -> str:
    """The last 2,000 characters of a server's log."""
    log.seek(0)
    return log.read().decode(errors="replace")[-2000:]


class _Conn:
    """One keep-alive HTTP/1.1 connection: JSON POSTs, Content-Length responses."""

    def __init__(self, base: str) -> None:
        url = httpx.URL(base)
        self.host, self.port = url.host, url.port or 80

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: bytes, headers: str) -> tuple[int, bytes]:
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{headers}\r\n".encode()
            + body
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return int(head[9:12]), await self.reader.readexactly(length) if length else b""

    def close(self) -> None:
        self.writer.close()


async def _load(base: str, op: Any, duration_s: float) -> tuple[int, int, list[float]]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration_s

    async def worker() -> None:
        nonlocal errors
        conn = _Conn(base)
        await conn.open()
        try:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                if await op(conn):
                    latencies.append((time.perf_counter() - start) * 1000)
                else:
                    errors += 1
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    elapsed = time.perf_counter() - started
    return int(len(latencies) / elapsed), errors, latencies


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _run_backend(name: str, home: Path, database_url: str | None) -> None:
    from commerce.auth import mint_token
    from commerce.db import reset_engines
    from shopflow import embedded
    from shopflow.config import Settings, get_settings

    env = api_env(SHOPFLOW_HOME=str(home))
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = database_url
    os.environ.update({k: v for k, v in env.items() if k in ("SHOPFLOW_HOME", "DATABASE_URL")})
    if not database_url:
        os.environ.pop("DATABASE_URL", None)
    get_settings.cache_clear()
    reset_engines()
    orders = _prepare(get_settings().sqlalchemy_url)
    reset_engines()
    token = mint_token("bench-user")
    headers = f"Authorization: Bearer {token}\r\n"
    queue = iter(orders)
    try:
        apps = [
            (f"{__name__}:bare_app", "/docs"),
            ("serving.app:create_app", "/api/payments/health"),
        ]
        with _servers(env, apps) as (bare_base, base):  # started together, measured in turn
            bare_rps, bare_err, bare_lat = asyncio.run(
                _load(bare_base, lambda c: _bare(c), DURATION_S)
            )
            rps, err, lat = asyncio.run(_load(base, lambda c: _pay(c, queue, headers), DURATION_S))
    finally:
        embedded.stop_all(Settings(home=home))
    print(
        f"{name:<10} bare insert      {bare_rps:6d} req/s  p50 {_pct(bare_lat, 0.5):6.1f} ms  "
        f"p99 {_pct(bare_lat, 0.99):6.1f} ms  errors {bare_err}"
    )
    print(
        f"{name:<10} create+confirm   {rps:6d} pay/s  p50 {_pct(lat, 0.5):6.1f} ms  "
        f"p99 {_pct(lat, 0.99):6.1f} ms  errors {err}   "
        f"ratio to bare insert {rps / max(bare_rps, 1):.2f}x   "
        f"vs seed promise ({SEED_TPS} TPS): {rps / SEED_TPS:.1f}x"
    )
    for (step, status), body in _FAILURES.items():
        print(f"{name:<10} failed {step}: {status} {body.decode(errors='replace')}")
    _FAILURES.clear()


async def _bare(conn: _Conn) -> bool:
    return (await conn.post("/bare", b"{}", ""))[0] == 201


async def _pay(conn: _Conn, queue: Iterator[str], headers: str) -> bool:
    order_id = next(queue, None)
    if order_id is None:
        await asyncio.sleep(0.01)
        return _failed("no placed order left", 0, b"")
    body = {"order_id": order_id, "amount_minor": 1000, "currency": "USD",
            "method": "CREDIT_CARD", "payment_method": "pm_card_visa"}  # fmt: skip
    status, raw = await conn.post(
        "/api/payments", json.dumps(body).encode(), f"{headers}Idempotency-Key: c-{order_id}\r\n"
    )
    if status != 201:
        return _failed("create", status, raw)
    pid = json.loads(raw)["id"]
    status, raw = await conn.post(
        f"/api/payments/{pid}/confirm", b"{}", f"{headers}Idempotency-Key: f-{order_id}\r\n"
    )
    if status != 200 or json.loads(raw)["status"] != "COMPLETED":
        return _failed("confirm", status, raw)
    return True


_FAILURES: dict[tuple[str, int], bytes] = {}
"""The first answer of each kind of failed request, printed with the figures."""


def _failed(step: str, status: int, body: bytes) -> bool:
    _FAILURES.setdefault((step, status), body[:300])
    return False


def main() -> None:
    import pgserver

    print(f"{CLIENTS} concurrent clients, {DURATION_S:.0f} s per phase, {WORKERS} uvicorn workers")
    with tempfile.TemporaryDirectory(prefix="bench-pay-") as tmp:
        os.chmod(tmp, 0o755)  # the PostgreSQL server runs as its own user
        _run_backend("sqlite", Path(tmp) / "sqlite", None)
        pg = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
        try:
            uri = pg.get_uri().replace("postgresql://", "postgresql+psycopg://")
            _run_backend("postgresql", Path(tmp) / "postgres", uri)
        finally:
            pg.cleanup()


if __name__ == "__main__":
    main()
