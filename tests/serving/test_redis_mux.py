"""The multiplexed Redis connection against a real Redis: concurrent callers get their own
replies, errors stay with their caller, a lost connection fails loudly and the API falls back
to the regular client."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from serving.recommendations import redis_mux


def test_concurrent_callers_get_their_own_replies(redis_server: str, redis_client) -> None:
    async def run() -> list[object]:
        conn = await redis_mux.connect(redis_server)
        assert conn is not None
        try:
            return await asyncio.gather(*(conn.call("ECHO", f"m{n}") for n in range(300)))
        finally:
            await conn.aclose()

    assert asyncio.run(run()) == [f"m{n}" for n in range(300)]


def test_errors_stay_with_their_caller(redis_server: str, redis_client) -> None:
    async def run() -> None:
        conn = await redis_mux.connect(redis_server)
        assert conn is not None
        try:
            with pytest.raises(NoScriptError):
                await conn.call("EVALSHA", "0" * 40, 0)
            with pytest.raises(ResponseError, match="wrong number of arguments"):
                await conn.call("GET")
            assert await conn.call("SET", "k", "v") == "OK"
            assert await conn.call("GET", "k") == "v"
        finally:
            await conn.aclose()

    asyncio.run(run())


def test_a_cancelled_caller_does_not_shift_the_replies(redis_server: str, redis_client) -> None:
    async def run() -> tuple[object, object]:
        conn = await redis_mux.connect(redis_server)
        assert conn is not None
        try:
            slow = asyncio.ensure_future(conn.call("BLPOP", "nothing", "0.2"))
            await asyncio.sleep(0.05)
            slow.cancel()
            after = await conn.call("ECHO", "after")
            return after, await conn.call("ECHO", "again")
        finally:
            await conn.aclose()

    assert asyncio.run(run()) == ("after", "again")


def test_select_from_the_url(redis_server: str, redis_client) -> None:
    url = urlsplit(redis_server)._replace(path="/3").geturl()

    async def run() -> None:
        conn = await redis_mux.connect(url)
        assert conn is not None
        try:
            await conn.call("SET", "in-db-3", "yes")
        finally:
            await conn.aclose()

    asyncio.run(run())
    assert redis_client.get("in-db-3") is None
    db3 = redis.Redis.from_url(url, decode_responses=True)
    try:
        assert db3.getdel("in-db-3") == "yes"
    finally:
        db3.close()


def test_tls_is_left_to_the_regular_client() -> None:
    assert asyncio.run(redis_mux.connect("rediss://127.0.0.1:1/0")) is None


def test_a_lost_connection_fails_its_callers(redis_server: str, redis_client) -> None:
    async def run() -> None:
        conn = await redis_mux.connect(redis_server)
        assert conn is not None
        name = await conn.call("CLIENT", "ID")
        redis_client.execute_command("CLIENT", "KILL", "ID", name)
        with pytest.raises(RedisConnectionError):
            for _ in range(50):  # the reader notices the close
                await conn.call("PING")
                await asyncio.sleep(0.01)
        assert conn.closed
        await conn.aclose()

    asyncio.run(run())
