"""What ``/readyz`` checks: the database, Redis and the broker answer, and a recommendations
publication is present. Each check is bounded in time and reports ``ok`` and, when not, why;
``/livez`` checks nothing (the process answers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from confluent_kafka.admin import AdminClient
from sqlalchemy import text

from commerce.db import get_engine
from serving.recommendations.reader import OnlineStore
from shopflow import bus, embedded
from shopflow.config import Settings

CHECK_TIMEOUT_S = 2.0
Check = dict[str, Any]


class Readiness:
    """The worker's readiness checks (one broker admin client, made on first use)."""

    def __init__(self, settings: Settings, store: OnlineStore) -> None:
        self.settings = settings
        self.store = store
        self._admin: AdminClient | None = None

    async def checks(self) -> dict[str, Check]:
        named: dict[str, Callable[[], Awaitable[None]]] = {
            "database": self._database,
            "redis": self._redis,
            "broker": self._broker,
            "recommendations": self._publication,
        }
        results = await asyncio.gather(*(_timed(check) for check in named.values()))
        return dict(zip(named, results, strict=True))

    async def _database(self) -> None:
        def ping() -> None:
            with get_engine().connect() as conn:
                conn.execute(text("select 1"))

        await asyncio.to_thread(ping)

    async def _redis(self) -> None:
        await self.store.redis.ping()

    async def _broker(self) -> None:
        await asyncio.to_thread(self._list_topics)

    def _list_topics(self) -> None:
        if self._admin is None:
            bootstrap = embedded.configured_url("kafka", self.settings)
            if bootstrap is None:  # embedded: its address, without starting it
                running = embedded.status(self.settings)["kafka"]
                if running is None:
                    raise RuntimeError("the embedded broker is not running")
                bootstrap = running.url
            self._admin = AdminClient(
                bus.client_config(bootstrap, self.settings), logger=bus.KAFKA_LOG
            )
        self._admin.list_topics(timeout=CHECK_TIMEOUT_S)

    async def _publication(self) -> None:
        if await self.store.read_publication() is None:
            raise RuntimeError("no recommendations publication yet (run the pipeline)")


async def _timed(check: Callable[[], Awaitable[None]]) -> Check:
    start = time.perf_counter()
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S + 0.5)
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {CHECK_TIMEOUT_S:.0f} s"}
    except Exception as exc:  # a probe reports, never raises
        return {"ok": False, "error": str(exc) or type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - start) * 1000, 2)}
