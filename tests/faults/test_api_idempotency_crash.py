"""The API SIGKILLed in the middle of 20 concurrent idempotent ``POST /api/orders``, then
started again: every key's retry gets its order (the one created before the crash, or a
new one), none twice, at once; an unrelated order is served alongside."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import func, select

from commerce.db import session_scope
from commerce.db.models.commerce import Order
from shopflow.config import Settings
from tests.faults.api_proc import api, until
from tests.serving.fakes.commerce import auth

KEYS = [f"crash-key-{n}" for n in range(20)]
ORDER = {"lines": [{"product_id": "p1", "quantity": 1}]}


def _orders(user: str = "alice") -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).where(Order.user_id == user)) or 0


def _post(base: str, key: str | None, user: str = "alice") -> httpx.Response:
    headers = auth(user) | ({"Idempotency-Key": key} if key else {})
    return httpx.post(f"{base}/api/orders", json=ORDER, headers=headers, timeout=30)


def test_orders_survive_a_crash_mid_request(shopflow_home: Settings, redis_server: str) -> None:
    before: dict[str, str] = {}
    with api(shopflow_home, redis_server, SHOPFLOW_IDEMPOTENCY_LEASE_S="2") as (proc, base):
        product = {"title": "Pan", "category": "kitchen", "brand": "Acme",
                   "price_minor": 1250, "currency": "USD", "stock": 1000}  # fmt: skip
        admin = auth("admin-1", "admin")
        assert httpx.put(f"{base}/api/products/p1", json=product, headers=admin).status_code == 201

        def first_try(key: str) -> None:
            try:
                resp = _post(base, key)
            except httpx.TransportError:
                return  # the server died under it
            if resp.status_code == 201:
                before[key] = resp.json()["id"]

        threads = [threading.Thread(target=first_try, args=(key,)) for key in KEYS]
        for thread in threads:
            thread.start()
        time.sleep(0.2)
        until(lambda: _orders() > 0, timeout_s=30)  # mid-flight: some orders committed
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for thread in threads:
            thread.join()

    with api(shopflow_home, redis_server, SHOPFLOW_IDEMPOTENCY_LEASE_S="2") as (proc, base):

        def timed(key: str | None, user: str = "alice") -> tuple[httpx.Response, float]:
            start = time.monotonic()
            resp = _post(base, key, user)
            return resp, time.monotonic() - start

        with ThreadPoolExecutor(max_workers=21) as pool:
            unrelated = pool.submit(timed, None, "bob")
            retries = dict(zip(KEYS, pool.map(timed, KEYS), strict=True))
        bob, bob_s = unrelated.result()
        assert bob.status_code == 201, bob.text
        for key, (resp, _) in retries.items():
            assert resp.status_code == 201, (key, resp.status_code, resp.text)
        ids = {key: resp.json()["id"] for key, (resp, _) in retries.items()}
        assert len(set(ids.values())) == len(KEYS)
        for key, order_id in before.items():  # answered before the crash: the same order
            assert ids[key] == order_id
        replayed = [k for k, (r, _) in retries.items() if r.headers.get("idempotent-replayed")]
        assert set(before) <= set(replayed)
        mine = httpx.get(f"{base}/api/orders?limit=200", headers=auth("alice"), timeout=10).json()
        assert mine["total"] == len(KEYS) == _orders()  # no duplicates
        assert sorted(o["id"] for o in mine["items"]) == sorted(ids.values())
        slowest = max(s for _, s in retries.values())
        print(
            f"\nbefore the crash: {len(before)} answered; after: {len(replayed)} replayed, "
            f"{len(KEYS) - len(replayed)} placed; slowest retry {slowest:.2f} s "
            f"(lease 2 s); unrelated order {bob_s:.2f} s"
        )
