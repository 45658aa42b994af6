"""``POST /events``: behaviour events (one, or a batch of up to 500) onto the event bus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from commerce.errors import Unavailable
from serving import events_ingest as realtime_ingest
from serving.lifespan import register_hook
from shopflow import bus, embedded
from shopflow.config import Settings

router = APIRouter(tags=["events"])


class _LazyProducer:
    """The worker's one producer, made on first use (the API starts without a broker)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: bus.EventProducer | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> bus.EventProducer:
        if self._producer is None:
            async with self._lock:
                if self._producer is None:
                    try:
                        self._producer = await asyncio.to_thread(bus.EventProducer, self.settings)
                    except embedded.ServiceError as exc:  # the embedded broker would not start
                        raise Unavailable(
                            f"the event bus is unavailable: {exc}",
                            retry_after=realtime_ingest.RETRY_AFTER_S,
                        ) from exc
        return self._producer

    async def close(self) -> None:
        if self._producer is not None:
            await asyncio.to_thread(self._producer.close, 10.0)


@register_hook
@asynccontextmanager
async def _event_producer(app: FastAPI) -> AsyncIterator[None]:
    app.state.event_producer = _LazyProducer(app.state.settings)
    try:
        yield
    finally:
        await app.state.event_producer.close()


class Accepted(BaseModel):
    accepted: int = Field(description="How many events the broker persisted.")
    event_ids: list[str] = Field(description="Their ids, in request order.")


_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One event, or an array of up to 500 (see `shopflow events schema`).",
        "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
    }
}


@router.post(
    "/events",
    status_code=202,
    summary="Publish behaviour events",
    response_model=Accepted,
    openapi_extra=_BODY,
    responses={
        422: {"description": "Invalid events, with index, event_id and errors; none accepted"},
        503: {"description": "The event bus did not confirm; none accepted (Retry-After)"},
    },
)
async def post_events(request: Request) -> Response:
    """Validate every event against the contract and publish them (acks=all, idempotent),
    answering once the broker confirmed all of them. A batch with any invalid event is
    rejected whole. Send your own `event_id`s so that retries are deduplicated."""
    try:
        raw = await request.body()
    except ClientDisconnect:  # the client went away: nothing to answer, nothing published
        return Response(status_code=499)
    evs, _ = realtime_ingest.parse_body(raw, request.app.state.settings.events_max_batch)
    producer = await request.app.state.event_producer.get()
    ids = await realtime_ingest.publish(producer, evs)
    body = orjson.dumps({"accepted": len(ids), "event_ids": ids})
    return Response(body, status_code=202, media_type="application/json")
