"""Redis stopped and started again under traffic, on real processes: no endpoint answers
500, ``/recommendations`` serves the popularity snapshot (or 503 with Retry-After), the API
reconnects by itself, and a payment confirmed during the outage reads back as it is in the
database, although the restarted Redis still holds the entry cached before."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import redis

from shopflow.config import Settings
from shopflow.online_store import keys
from tests.faults.api_proc import api, redis_server, until
from tests.serving.fakes.commerce import auth, payment_body
from tests.serving.test_recommendations import publish

REASON = "online store unavailable"
UNLIMITED = {"read": "1000000/minute"}  # the traffic threads run far past a caller's budget
PATHS = (
    "/recommendations/u1",
    "/recommendations/u2?limit=3",
    "/health",
    "/api/products/p1",
    "/api/products/p1/reviews",
    "/api/products/p1/rating",
    "/analytics/realtime",
)


class Traffic:
    """Threads sending GETs of ``PATHS`` in a loop; every answer is recorded."""

    def __init__(self, base: str, threads: int = 4) -> None:
        self.base = base
        self.stopping = threading.Event()
        self.answers: list[tuple[str, int, str | None, dict | None]] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        headers = auth("admin-1", "admin")  # reads any user's recommendations and the metrics
        with httpx.Client(base_url=self.base, timeout=10, headers=headers) as client:
            while not self.stopping.is_set():
                for path in PATHS:
                    resp = client.get(path)
                    body = resp.json() if path.startswith("/recommendations") else None
                    with self.lock:
                        self.answers.append(
                            (path, resp.status_code, resp.headers.get("retry-after"), body)
                        )

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def since(self, n: int) -> list[tuple[str, int, str | None, dict | None]]:
        with self.lock:
            return self.answers[n:]


def _served(base: str) -> bool:
    resp = httpx.get(base + "/recommendations/u1", headers=auth("u1"), timeout=10)
    return resp.status_code == 200 and resp.json()["fallback_reason"] != REASON


def test_redis_restart_under_traffic(shopflow_home: Settings, tmp_path: Path) -> None:
    admin, alice = auth("admin-1", "admin"), auth("alice")
    with redis_server(tmp_path / "redis") as store:
        publish(redis.Redis.from_url(store.url, decode_responses=True))
        env = {"SHOPFLOW_POPULAR_SNAPSHOT_S": "0.2", "SHOPFLOW_REDIS_TIMEOUT_S": "1",
               "SHOPFLOW_RATE_LIMITS": json.dumps(UNLIMITED)}  # fmt: skip
        with (
            api(shopflow_home, store.url, **env) as (proc, base),
            httpx.Client(base_url=base, timeout=10) as http,
        ):
            product = {"title": "Pan", "category": "kitchen", "brand": "Acme",
                       "price_minor": 1250, "currency": "USD", "stock": 50}  # fmt: skip
            assert http.put("/api/products/p1", json=product, headers=admin).status_code == 201
            order = http.post(
                "/api/orders", json={"lines": [{"product_id": "p1", "quantity": 1}]},
                headers=alice,
            ).json()  # fmt: skip
            pay = http.post("/api/payments", json=payment_body(order), headers=alice).json()
            assert pay["status"] == "PENDING"
            http.get(f"/api/payments/{pay['id']}", headers=alice)
            cached = http.get(f"/api/payments/{pay['id']}", headers=alice)
            assert cached.headers["x-cache"] == "hit" and cached.json()["status"] == "PENDING"
            assert _served(base)
            time.sleep(1.0)  # a few snapshot rounds: the popularity list is in memory

            with Traffic(base) as traffic:
                before = len(traffic.since(0))
                store.stop()  # the RDB written here holds the PENDING entry
                confirmed = http.post(f"/api/payments/{pay['id']}/confirm", headers=alice)
                assert confirmed.status_code == 200 and confirmed.json()["status"] == "COMPLETED"
                health = http.get("/health")
                assert health.status_code == 503 and health.json()["status"] == "degraded"
                assert health.json()["fallback"]["popular_items"] > 0
                until(lambda: sum(1 for a in traffic.since(before) if a[1] != 200) >= 20)
                time.sleep(1.0)
                outage = traffic.since(before)
                store.start()
                restarted = time.monotonic()
                until(lambda: _served(base) and http.get("/health").status_code == 200)
                recovery_s = time.monotonic() - restarted
                after = len(traffic.since(0))
                until(lambda: len(traffic.since(after)) >= 50)
            answers = traffic.since(0)

            statuses = Counter((path.split("?")[0], status) for path, status, _, _ in answers)
            print(f"\nanswers by (path, status): {dict(statuses)}")
            print(f"API served recommendations again {recovery_s:.2f} s after Redis restarted")
            assert not [a for a in answers if a[1] >= 500 and a[1] != 503], statuses
            recs = [a for a in outage if a[0].startswith("/recommendations")]
            assert recs, "recommendations were requested during the outage"
            for _, status, retry_after, body in recs:
                assert (status == 200 and body and body["fallback_reason"] == REASON) or (
                    status == 503 and retry_after
                ), (status, body)
            fallback = [b for _, s, _, b in recs if s == 200 and b["fallback_reason"] == REASON]
            assert fallback, "the popularity snapshot served during the outage"
            assert fallback[0]["items"] and fallback[0]["published_version"] == "v1"
            assert [a for a in outage if a[0] == "/api/products/p1/reviews" and a[1] == 200]
            assert all(a[1] == 200 for a in traffic.since(after))

            # the restarted Redis loaded the entry cached while the payment was PENDING
            stale = redis.Redis.from_url(store.url).get(keys.payment_cache(pay["id"]))
            assert stale is not None and json.loads(stale)["body"]["status"] == "PENDING"
            paid = http.get(f"/api/payments/{pay['id']}", headers=alice)
            assert paid.json()["status"] == "COMPLETED", paid.json()
            assert http.get(f"/api/orders/{order['id']}", headers=alice).json()["status"] == "PAID"
            again = http.get(f"/api/payments/{pay['id']}", headers=alice)
            assert again.headers["x-cache"] == "hit" and again.json()["status"] == "COMPLETED"
