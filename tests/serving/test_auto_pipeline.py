"""Auto-pipelined Redis reads (``serving.auto_pipeline``) against a real Redis: concurrent
callers share one round trip, yet each gets its own reply or error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from serving.auto_pipeline import AutoPipeline, batched
from serving.recommendations.reader import OnlineStore
from shopflow import embedded
from shopflow.online_store import keys


class CountingRedis(aioredis.Redis):
    """A real client that counts the pipelines it opens (one per shared round trip)."""

    pipelines = 0

    def pipeline(self, *args: Any, **kwargs: Any) -> Any:
        type(self).pipelines += 1
        return super().pipeline(*args, **kwargs)


@pytest.fixture
def seeded(redis_client: Any) -> Any:
    redis_client.set("a", "1")
    redis_client.set("b", "2")
    redis_client.hset("h", mapping={"x": "y"})
    return redis_client


def test_concurrent_reads_share_one_round_trip_and_keep_their_replies(
    redis_server: str, seeded: Any
) -> None:
    async def run() -> list[Any]:
        client = CountingRedis.from_url(redis_server, decode_responses=True)
        CountingRedis.pipelines = 0
        pipeline = AutoPipeline(client)
        try:
            return await asyncio.gather(
                pipeline.execute("GET", "a"),
                pipeline.execute("GET", "b"),
                pipeline.execute("GET", "missing"),
                pipeline.execute("HGETALL", "h"),  # the command's reply callback applies
            )
        finally:
            await client.aclose()

    assert asyncio.run(run()) == ["1", "2", None, {"x": "y"}]
    assert CountingRedis.pipelines == 1


def test_a_failing_command_fails_alone(redis_server: str, seeded: Any) -> None:
    async def run() -> list[Any]:
        client = aioredis.Redis.from_url(redis_server, decode_responses=True)
        pipeline = AutoPipeline(client)
        try:
            return await asyncio.gather(
                pipeline.execute("GET", "a"),
                pipeline.execute("HGETALL", "a"),  # a string, not a hash: WRONGTYPE
                pipeline.execute("EVALSHA", "0" * 40, 0),  # a script Redis does not know
                pipeline.execute("GET", "b"),
                return_exceptions=True,
            )
        finally:
            await client.aclose()

    first, wrong_type, no_script, last = asyncio.run(run())
    assert (first, last) == ("1", "2")
    assert isinstance(wrong_type, ResponseError) and "WRONGTYPE" in str(wrong_type)
    assert isinstance(no_script, NoScriptError)


def test_a_failed_round_trip_reaches_every_caller() -> None:
    async def run() -> list[Any]:
        client = aioredis.Redis(port=embedded.free_port(), socket_connect_timeout=1)
        pipeline = AutoPipeline(client)
        try:
            return await asyncio.gather(
                *(pipeline.execute("GET", key) for key in ("a", "b", "c")),
                return_exceptions=True,
            )
        finally:
            await client.aclose()

    assert all(isinstance(r, RedisConnectionError) for r in asyncio.run(run()))


def test_a_caller_that_goes_away_leaves_the_others_their_replies(
    redis_server: str, seeded: Any
) -> None:
    async def run() -> tuple[bool, Any, Any]:
        client = aioredis.Redis.from_url(redis_server, decode_responses=True)
        pipeline = AutoPipeline(client)
        try:
            leaving = asyncio.ensure_future(pipeline.execute("GET", "a"))
            staying = asyncio.ensure_future(pipeline.execute("GET", "b"))
            await asyncio.sleep(0)  # both queued
            leaving.cancel()
            reply = await staying
            later = await pipeline.execute("GET", "a")  # the pipeline still serves
            return leaving.cancelled(), reply, later
        finally:
            await client.aclose()

    assert asyncio.run(run()) == (True, "2", "1")


def test_the_online_store_reloads_a_flushed_script_through_the_pipeline(
    redis_server: str, redis_client: Any
) -> None:
    redis_client.hset(keys.item_info("i1"), mapping={"title": "One", "stock": "3"})

    async def run() -> Any:
        client = aioredis.Redis.from_url(redis_server, decode_responses=True)
        store = OnlineStore(client)
        try:
            await client.script_flush()  # e.g. Redis restarted: EVALSHA answers NOSCRIPT
            return await store.availability(["i1", "i2"], user_id=None)
        finally:
            await client.aclose()

    availability = asyncio.run(run())
    assert availability.info["i1"] is not None and availability.info["i1"].title == "One"
    assert availability.info["i2"] is None


def test_a_cluster_client_sends_commands_itself() -> None:
    from redis.asyncio.cluster import RedisCluster

    cluster = RedisCluster(host="127.0.0.1", port=embedded.free_port())
    assert batched(cluster) == cluster.execute_command
    standalone = aioredis.Redis()
    assert batched(standalone) != standalone.execute_command
