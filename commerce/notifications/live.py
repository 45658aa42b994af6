"""In-app fan-out inside one API worker: ONE Redis pub/sub connection, subscribed to the
channel of each user with at least one WebSocket on this worker, dispatching messages to
those sockets' queues. A user's channel is subscribed when their first socket joins and
unsubscribed when their last one leaves, so ``PUBLISH`` counts the workers holding a socket
of that user (the in-app channel's "delivered")."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from shopflow.online_store import keys

log = logging.getLogger("shopflow.notifications.live")

QUEUE_SIZE = 256  # messages a slow socket may lag behind before new ones are dropped
CONFIRM_S = 5.0  # wait for Redis to confirm a SUBSCRIBE before telling the client "ready"
STOP_S = 3.0  # the most ``stop`` waits for the reader, then for closing the connection


class Fanout:
    def __init__(self, client: aioredis.Redis) -> None:
        self._pubsub = client.pubsub()
        self._local: dict[str, set[asyncio.Queue[str]]] = {}
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._lock = asyncio.Lock()
        self._connected = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read(), name="notifications-fanout")

    async def stop(self) -> None:
        """End the reader within ``STOP_S``: redis-py may turn a cancellation that lands in a
        read into a ConnectionError, so the reader also checks a flag, and is cancelled again
        until it ends."""
        self._stopping = True
        reader = self._reader
        if reader is not None:
            deadline = asyncio.get_running_loop().time() + STOP_S
            while not reader.done() and asyncio.get_running_loop().time() < deadline:
                reader.cancel()
                await asyncio.wait([reader], timeout=0.1)
            if not reader.done():
                log.warning("notification fan-out: the reader did not stop; leaving it")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._pubsub.aclose(), STOP_S)  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated

    def users(self) -> set[str]:
        """Users with a socket on this worker."""
        return set(self._local)

    async def join(self, user_id: str) -> asyncio.Queue[str]:
        """A queue receiving the user's messages; subscribes their channel if it is the
        user's first socket here. Raises RedisError when Redis cannot be reached."""
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        channel = keys.notification_channel(user_id)
        async with self._lock:
            sockets = self._local.setdefault(user_id, set())
            if not sockets:
                self._pending[channel] = asyncio.get_running_loop().create_future()
                try:
                    await self._pubsub.subscribe(channel)
                except BaseException:
                    self._local.pop(user_id, None)
                    self._pending.pop(channel, None)
                    raise
                self._connected.set()
            sockets.add(queue)
            confirmed = self._pending.get(channel)
        if confirmed is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(confirmed), CONFIRM_S)
        return queue

    async def leave(self, user_id: str, queue: asyncio.Queue[str]) -> None:
        async with self._lock:
            sockets = self._local.get(user_id)
            if sockets is None:
                return
            sockets.discard(queue)
            if not sockets:
                del self._local[user_id]
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(keys.notification_channel(user_id))

    async def _read(self) -> None:
        await self._connected.wait()  # the pub/sub connection exists from the first SUBSCRIBE
        while not self._stopping:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # redis-py reconnects and resubscribes on the next read
                if self._stopping:  # a cancellation redis-py reported as a connection error
                    return
                log.warning("notification fan-out: %s: %s; retrying", type(exc).__name__, exc)
                await asyncio.sleep(0.5)
                continue
            if message is not None:
                self._handle(message)

    def _handle(self, message: dict[str, object]) -> None:
        channel = str(message["channel"])
        if message["type"] == "subscribe":
            confirmed = self._pending.pop(channel, None)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
        elif message["type"] == "message":
            for queue in list(self._local.get(keys.notification_user(channel), ())):
                try:
                    queue.put_nowait(str(message["data"]))
                except asyncio.QueueFull:
                    log.warning("notification fan-out: a socket of %s lags; message dropped",
                                keys.notification_user(channel))  # fmt: skip
