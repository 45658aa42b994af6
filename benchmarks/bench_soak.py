"""Soak: capacity first (a short closed-loop burst of mixed traffic), then mixed traffic at half
that capacity, open loop, for ``SOAK_S`` seconds (default 300): recommendations, catalog,
orders, payments, reviews and events against one uvicorn worker on embedded Redis, SQLite and
the broker. Prints errors (transport errors and 5xx; 4xx the mix provokes on purpose are
counted apart), p99, and the API process's RSS growth from after warm-up to the end.
Targets: 0 errors, RSS growth < 10 %. The ratio: throughput held / capacity measured, in
mix operations ("ops": one draw of the mix; a payment op is two requests, order then pay).
The load generator shares the machine with the server, so capacity is a floor.

    python -m benchmarks soak            SOAK_S=30 python -m benchmarks soak
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from benchmarks.bench_recommendations import N_USERS, publish_synthetic
from benchmarks.loadgen import redis_home, uvicorn_server
from commerce.auth import mint_token

SOAK_S = float(os.environ.get("SOAK_S", "300"))
BURST_S, WARMUP_S, CONNECTIONS, PRODUCTS = 10.0, 5.0, 32, 50
ADMIN = {"Authorization": "Bearer " + mint_token("bench-admin", ["admin"])}


def _user(n: int) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(f"u{n}", ["customer"])}


USERS = [_user(n) for n in range(200)]
Request = tuple[str, str, dict[str, str], Any]


def _order(rng: random.Random) -> Request:
    lines = [{"product_id": f"p{rng.randrange(PRODUCTS)}", "quantity": 1}]
    return "POST", "/api/orders", rng.choice(USERS), {"lines": lines}


def _mix(rng: random.Random) -> Request:
    roll = rng.random()
    if roll < 0.35:
        return "GET", f"/recommendations/u{rng.randrange(N_USERS)}?limit=10", {}, None
    if roll < 0.55:
        return "GET", f"/api/products?limit=20&offset={rng.randrange(40)}", {}, None
    if roll < 0.62:
        return "GET", f"/api/products/p{rng.randrange(PRODUCTS)}", {}, None
    if roll < 0.72:
        return _order(rng)
    if roll < 0.78:
        return "GET", "/api/orders?limit=10", rng.choice(USERS), None
    if roll < 0.85:
        return "PAY", "", rng.choice(USERS), None  # an order, then its payment
    if roll < 0.93:
        return "GET", f"/api/products/p{rng.randrange(PRODUCTS)}/reviews", {}, None
    event = {
        "event_id": str(uuid.uuid4()),
        "event_type": "product_view",
        "user_id": f"u{rng.randrange(N_USERS)}",
        "session_id": "s1",
        "payload": {"item_id": f"i{rng.randrange(5000)}"},
    }
    return "POST", "/events", {}, event


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    draws: int = 0  # mix draws done; a payment draw is two requests (order, then payment)
    errors: int = 0
    client_errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def record(self, status: int, seconds: float) -> None:
        self.latencies.append(seconds)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 500:
            self.errors += 1
        elif status >= 400:
            self.client_errors += 1

    def p99_ms(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[int(0.99 * (len(ordered) - 1))] * 1000 if ordered else 0.0


async def _one(client: httpx.AsyncClient, request: Request, tally: Tally) -> None:
    method, path, headers, body = request
    tally.draws += 1
    start = time.perf_counter()
    try:
        if method == "PAY":
            order = await client.post(
                "/api/orders", json=_order(random.Random())[3], headers=headers
            )
            tally.record(order.status_code, time.perf_counter() - start)
            if order.status_code != 201:
                return
            start = time.perf_counter()
            o = order.json()
            pay = {"order_id": o["id"], "amount_minor": o["total_minor"],
                   "currency": o["currency"], "method": "CREDIT_CARD",
                   "payment_method": "pm_card_visa"}  # fmt: skip
            resp = await client.post("/api/payments", json=pay, headers=headers)
        else:
            resp = await client.request(method, path, json=body, headers=headers)
        tally.record(resp.status_code, time.perf_counter() - start)
    except httpx.HTTPError:
        tally.errors += 1


async def _closed_loop(base: str, seconds: float) -> tuple[float, Tally]:
    """Capacity: CONNECTIONS workers sending back to back; returns mix draws/s."""
    tally, deadline = Tally(), time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:

        async def worker(seed: int) -> None:
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                await _one(client, _mix(rng), tally)

        start = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(CONNECTIONS)))
        return tally.draws / (time.perf_counter() - start), tally


async def _open_loop(
    base: str, rate: float, seconds: float, at_mark: Callable[[], None]
) -> tuple[float, Tally]:
    """``rate`` mix draws/s on a fixed schedule (latency includes any queueing); ``at_mark``
    runs once after WARMUP_S. Returns the draws/s achieved."""
    tally, rng = Tally(), random.Random(1)
    limits = httpx.Limits(max_connections=CONNECTIONS * 4)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        tasks: set[asyncio.Task[None]] = set()
        start, sent, marked = time.perf_counter(), 0, False
        while (now := time.perf_counter() - start) < seconds:
            if not marked and now >= WARMUP_S:
                at_mark()
                marked = True
            due = int(now * rate) - sent
            for _ in range(due):
                task = asyncio.create_task(_one(client, _mix(rng), tally))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            sent += max(due, 0)
            await asyncio.sleep(0.005)
        await asyncio.gather(*tasks)
        return tally.draws / (time.perf_counter() - start), tally


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _seed(base: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        for n in range(PRODUCTS):
            body = {"title": f"Product {n}", "category": "kitchen", "brand": "Acme",
                    "price_minor": 1000 + n, "currency": "EUR", "stock": 10**9}  # fmt: skip
            client.put(f"/api/products/p{n}", json=body, headers=ADMIN).raise_for_status()


def main() -> None:
    from commerce.db import migrate
    from shopflow.config import Settings

    with redis_home("bench-soak-", publish_synthetic) as env:
        settings = Settings(home=env["SHOPFLOW_HOME"])
        migrate.upgrade(settings.sqlalchemy_url)
        with uvicorn_server("serving.app:create_app", env, "/health") as (base, pid):
            _seed(base)
            capacity, burst = asyncio.run(_closed_loop(base, BURST_S))
            print(
                f"capacity (closed loop, {CONNECTIONS} connections, {BURST_S:g} s): "
                f"{capacity:.0f} ops/s ({len(burst.latencies) / BURST_S:.0f} req/s), "
                f"p99 {burst.p99_ms():.1f} ms, errors {burst.errors}"
            )
            rss: dict[str, float] = {}
            held, soak = asyncio.run(
                _open_loop(
                    base, capacity / 2, SOAK_S, lambda: rss.__setitem__("start", _rss_mb(pid))
                )
            )
            rss["end"] = _rss_mb(pid)
    growth = (rss["end"] - rss["start"]) / rss["start"] * 100
    print(f"soak: {SOAK_S:g} s at {capacity / 2:.0f} ops/s (half capacity), "
          f"{soak.draws} ops = {len(soak.latencies)} requests")  # fmt: skip
    print(f"errors {soak.errors} (transport + 5xx; target 0), 4xx {soak.client_errors}, "
          f"statuses {dict(sorted(soak.statuses.items()))}")  # fmt: skip
    print(f"p99 {soak.p99_ms():.1f} ms   RSS {rss['start']:.0f} -> {rss['end']:.0f} MB "
          f"({growth:+.1f} %, target < 10 %)")  # fmt: skip
    print(f"ratio: held {held:.0f} / capacity {capacity:.0f} ops/s = {held / capacity:.2f}x "
          f"(target 0.50x with 0 errors)")  # fmt: skip


if __name__ == "__main__":
    main()
