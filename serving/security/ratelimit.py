"""Rate limits on the whole API, counted in Redis by the ``limits`` library (sliding window
counter).

Each worker takes a budget's tokens from Redis in leases (``lease_size``: 1 % of the budget,
at most ``LEASE_MAX``; 1 for budgets under 200) and spends them locally for up to
``LEASE_S``; unspent tokens are dropped then. A refusal is also answered locally, for up to
``LEASE_S`` (never past its Retry-After). So a busy caller costs one Lua call per lease, not
one per request. Every token is counted in Redis when leased, so the workers together never
admit more than the budget (a token spent up to ``LEASE_S`` after it was counted is the only
slack of the sliding window); near the end of a budget the last tokens are taken one at a
time, and a caller may be refused at most one lease per worker early.

Every request is put in a route class (``route_class``: read, write, sensitive; probes are
exempt) and charged to its caller (``identity.Caller.key``: the user id, else the client IP),
with the budgets of ``Settings.rate_limits``. A request carrying a credential the API refuses
(401) also charges the client IP's ``auth_failure`` budget; once that is spent, credentialed
requests this layer cannot verify itself are refused. Over budget: 429 with ``Retry-After``
and a problem body. Redis unreachable: the request passes (fail open), logged and counted.
On a Redis Cluster (``connect.is_cluster``) the counts live in the cluster; ``limits`` gives
each counter's two window keys one hash tag, so every call touches one slot.

``RateLimitMiddleware`` wraps the whole app, so the recommendations fast lane
(``serving.fastlane``) is limited like every route."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis.asyncio as aioredis
import redis.asyncio.cluster as aiocluster
from limits import RateLimitItem, parse
from limits.aio.storage import RedisClusterStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from prometheus_client import Counter
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.errors import problem
from serving.security import identity
from serving.security.identity import Caller
from serving.sent_status import SentStatus
from shopflow.config import Settings
from shopflow.online_store import connect, keys

log = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LEASE_MAX = 32
"""Most tokens a worker leases per Redis call."""
LEASE_S = 1.0
"""A lease's unspent tokens are dropped after this long."""
MAX_HELD = 10_000
"""Expired leases and refusals are pruned when a worker holds more than this many."""
REDIS_TIMEOUT_S = 0.25
"""A limiter call that waits longer on Redis gives up and lets the request pass."""
FAIL_OPEN_LOG_EVERY_S = 10.0

REJECTED = Counter(
    "shopflow_rate_limited", "Requests refused with 429, by spent budget.", ["budget"]
)
FAILED_OPEN = Counter(
    "shopflow_rate_limit_fail_open", "Requests let through because Redis could not be asked."
)


def route_class(method: str, path: str, settings: Settings) -> str | None:
    """The budget a request draws on; None for exempt paths (health and metrics probes)."""
    if path in settings.rate_limit_exempt_paths:
        return None
    if path.startswith(settings.rate_limit_sensitive_paths):
        return "sensitive"
    return "write" if method in WRITE_METHODS else "read"


def lease_size(item: RateLimitItem) -> int:
    """Tokens leased per Redis call for a budget: 1 % of it, 1 to ``LEASE_MAX``."""
    return max(1, min(LEASE_MAX, item.amount // 100))


@dataclass(frozen=True, slots=True)
class Refusal:
    budget: str
    """The spent budget: a route class, or auth_failure."""
    retry_after_s: int


@dataclass(slots=True)
class _Held:
    """What a worker holds for a (budget, caller) until ``until`` (``time.monotonic()``):
    leased tokens, or the refusal Redis gave (answered locally meanwhile)."""

    tokens: int
    until: float
    refusal: Refusal | None = None


class RateLimiter:
    """The budgets of ``settings`` counted in the Redis at ``redis_url``."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.items: dict[str, RateLimitItem] = {
            name: parse(text) for name, text in settings.rate_limits.items()
        }
        storage, self._client = _storage(settings, redis_url)
        self.strategy = SlidingWindowCounterRateLimiter(storage)
        self._held: dict[tuple[str, str], _Held] = {}
        self._prune_above = MAX_HELD
        self._last_fail_log = -math.inf

    async def admit(self, caller: Caller, klass: str) -> Refusal | None:
        """None when the request may pass; else the spent budget and when to retry."""
        try:
            if caller.unverified_credential:
                failures = self.items["auth_failure"]
                if not await self.strategy.test(failures, "auth_failure", f"ip:{caller.ip}"):
                    return await self._refusal(failures, "auth_failure", f"ip:{caller.ip}")
            held = self._held.get((klass, caller.key))
            if held is not None and held.until >= time.monotonic():
                if held.refusal is not None:
                    return held.refusal
                if held.tokens > 0:
                    held.tokens -= 1
                    return None
            item = self.items[klass]
            size = lease_size(item)
            if size > 1 and await self.strategy.hit(item, klass, caller.key, cost=size):
                self._hold(klass, caller.key, _Held(size - 1, time.monotonic() + LEASE_S))
                return None
            if await self.strategy.hit(item, klass, caller.key):
                return None
            refusal = await self._refusal(item, klass, caller.key)
            until = time.monotonic() + min(LEASE_S, refusal.retry_after_s)
            self._hold(klass, caller.key, _Held(0, until, refusal))
            return refusal
        except (StorageError, RedisError, OSError) as exc:
            self._failed_open(exc)
            return None

    def _hold(self, klass: str, key: str, new: _Held) -> None:
        now = time.monotonic()
        held = self._held.get((klass, key))
        if held is not None and held.until >= now and held.refusal is None and not new.refusal:
            held.tokens += new.tokens  # a concurrent lease of the same caller
            return
        self._held[(klass, key)] = new
        if len(self._held) > self._prune_above:
            self._held = {k: v for k, v in self._held.items() if v.until >= now}
            self._prune_above = max(MAX_HELD, 2 * len(self._held))

    async def note_failure(self, caller: Caller) -> None:
        """Charge a refused credential (a 401) to the client IP's ``auth_failure`` budget."""
        try:
            await self.strategy.hit(self.items["auth_failure"], "auth_failure", f"ip:{caller.ip}")
        except (StorageError, RedisError, OSError) as exc:
            self._failed_open(exc)

    async def _refusal(self, item: RateLimitItem, budget: str, key: str) -> Refusal:
        stats = await self.strategy.get_window_stats(item, budget, key)
        return Refusal(budget, max(1, math.ceil(stats.reset_time - time.time())))

    def _failed_open(self, exc: Exception) -> None:
        FAILED_OPEN.inc()
        now = time.monotonic()
        if now - self._last_fail_log >= FAIL_OPEN_LOG_EVERY_S:
            self._last_fail_log = now
            log.warning("rate limits not enforced, Redis unreachable: %r", exc)

    async def aclose(self) -> None:
        await self._client.aclose()


def _storage(
    settings: Settings, redis_url: str
) -> tuple[RedisStorage, aioredis.ConnectionPool | aiocluster.RedisCluster]:
    """The counters' store, the Redis at ``redis_url`` or the cluster it belongs to, and what
    to close when done with it."""
    prefix, timeout = keys.RATE_LIMITS_PREFIX, REDIS_TIMEOUT_S
    if connect.is_cluster(redis_url, settings):
        node = urlsplit(redis_url).netloc  # any node: the client learns the others from it
        cluster = RedisClusterStorage(
            f"async+redis+cluster://{node}",
            implementation="redispy",
            wrap_exceptions=True,
            key_prefix=prefix,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        client = cluster.bridge.get_connection()  # type: ignore[attr-defined]  # the redis-py bridge's
        return cluster, client
    pool = aioredis.ConnectionPool.from_url(
        redis_url, max_connections=256, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    single = RedisStorage(
        f"async+{redis_url}",
        implementation="redispy",
        wrap_exceptions=True,
        key_prefix=prefix,
        connection_pool=pool,  # type: ignore[arg-type]  # options are typed as scalars
    )
    return single, pool


class RateLimitMiddleware:
    """ASGI middleware: answers 429 for callers over budget, else passes the request on.
    The limiter comes from the app's clients (``serving.clients.Clients.rate_limiter``);
    before the lifespan has made it, or with limits disabled, everything passes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        clients = getattr(scope["app"].state, "clients", None) if "app" in scope else None
        limiter: RateLimiter | None = clients.rate_limiter if clients is not None else None
        if scope["type"] != "http" or limiter is None:
            await self.app(scope, receive, send)
            return
        klass = route_class(scope["method"], scope["path"], limiter.settings)
        if klass is None:
            await self.app(scope, receive, send)
            return
        caller = identity.caller(scope, limiter.settings)
        refusal = await limiter.admit(caller, klass)
        if refusal is not None:
            REJECTED.labels(refusal.budget).inc()
            wait_s = refusal.retry_after_s
            response = problem(
                429,
                "Too many requests",
                f"the {refusal.budget} budget of this caller is spent; retry in {wait_s} s",
                scope["path"],
                headers={"Retry-After": str(wait_s)},
                retry_after_s=wait_s,
            )
            await response(scope, receive, send)
            return
        if not caller.credential:
            await self.app(scope, receive, send)
            return
        sent = SentStatus(send, status=0)
        await self.app(scope, receive, sent)
        if sent.status == 401:
            await limiter.note_failure(caller)
