"""The one factory of Redis clients for the online store: a standalone client, or a Redis
Cluster client when ``Settings.redis_cluster`` is true (unset: when the server at the URL
runs in cluster mode). Both speak the same commands for the key layout of ``keys``, whose
scripts and pipelines each touch one hash tag, so one slot.

A cluster client retries a command that meets a failover, a moved or a missing slot
(``ClusterDownError``, ``SlotNotCoveredError``) with backoff; what still fails raises, so
the caller retries (the features consumer rewinds its batch, a publish is run again): a
write is never dropped. ``cluster_health`` names the slot ranges no node serves.
"""

from __future__ import annotations

import functools
from typing import Any, TypeAlias

import redis
import redis.asyncio as aioredis
import redis.asyncio.cluster as aiocluster
import redis.cluster
from redis.backoff import ExponentialBackoff
from redis.exceptions import SlotNotCoveredError
from redis.retry import Retry

from shopflow.config import Settings, get_settings

SLOTS = 16384
#: A cluster client's own retries of a command (backoff from 50 ms, doubling, at most 1 s).
CLUSTER_RETRIES = 8

SyncClient: TypeAlias = redis.Redis | redis.cluster.RedisCluster
AsyncClient: TypeAlias = aioredis.Redis | aiocluster.RedisCluster


def is_cluster(url: str, settings: Settings | None = None) -> bool:
    """``Settings.redis_cluster`` if set, else whether the server at ``url`` says it runs in
    cluster mode (unreachable: standalone)."""
    settings = settings or get_settings()
    if settings.redis_cluster is not None:
        return settings.redis_cluster
    return _cluster_enabled(url, settings.redis_timeout_s)


@functools.lru_cache(maxsize=16)
def _cluster_enabled(url: str, timeout_s: float) -> bool:
    probe = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        return bool(probe.info("cluster").get("cluster_enabled"))
    except redis.RedisError:
        return False
    finally:
        probe.close()


class _Cluster(redis.cluster.RedisCluster):
    """redis-py (8.1) raises ``SlotNotCoveredError`` from its slot cache without reading the
    layout again, so a slot that comes back would stay unknown: re-read it, then raise, so
    the caller's retry finds the slot served again."""

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().execute_command(*args, **kwargs)  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
        except SlotNotCoveredError:
            self.nodes_manager.initialize()
            raise


class _AsyncCluster(aiocluster.RedisCluster):
    """``_Cluster`` for asyncio."""

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().execute_command(*args, **kwargs)
        except SlotNotCoveredError:
            await self.nodes_manager.initialize()
            raise


def _cluster_options(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "require_full_coverage": False,  # serve the covered slots; health names the others
        "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), CLUSTER_RETRIES),
        **options,
    }


def connect(url: str, settings: Settings | None = None, **options: Any) -> SyncClient:
    """A blocking client for ``url`` (``options`` as for ``redis.Redis``)."""
    if is_cluster(url, settings):
        return _Cluster.from_url(url, **_cluster_options(options))
    return redis.Redis.from_url(url, **options)


def connect_async(url: str, settings: Settings | None = None, **options: Any) -> AsyncClient:
    """An asyncio client for ``url`` (``options`` as for ``redis.asyncio.Redis``)."""
    if is_cluster(url, settings):
        return _AsyncCluster.from_url(url, **_cluster_options(options))
    return aioredis.Redis.from_url(url, **options)


def missing_ranges(served: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The slot ranges (first, last; inclusive) outside every ``served`` range."""
    missing, start = [], 0
    for first, last in sorted(served):
        if first > start:
            missing.append((start, first - 1))
        start = max(start, last + 1)
    if start < SLOTS:
        missing.append((start, SLOTS - 1))
    return missing


def describe(ranges: list[tuple[int, int]]) -> str:
    """``"0-5460, 10923"``: ranges as an operator reads them."""
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges)


def is_cluster_client(client: SyncClient | AsyncClient) -> bool:
    return isinstance(client, aiocluster.RedisCluster | redis.cluster.RedisCluster)


async def cluster_health(client: AsyncClient) -> list[tuple[int, int]]:
    """The slot ranges no node of the cluster serves (CLUSTER SLOTS); [] when every slot is
    served or the client is a standalone one (nothing to check)."""
    if not isinstance(client, aiocluster.RedisCluster):
        return []
    node = client.get_random_node()
    reply = await client.execute_command("CLUSTER SLOTS", target_nodes=node)
    return missing_ranges(_served(reply))


def _served(reply: Any) -> list[tuple[int, int]]:
    """Served (first, last) ranges of a CLUSTER SLOTS reply, raw or parsed to a dict."""
    if isinstance(reply, dict):
        return [(int(a), int(b)) for a, b in reply]
    return [(int(row[0]), int(row[1])) for row in reply]
