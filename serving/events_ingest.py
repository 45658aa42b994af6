"""``POST /events`` rules, apart from HTTP: validate every event, publish them all, or none.

A request holds one event (a JSON object) or a batch (a JSON array, at most
``events_max_batch``). Every event is validated with the contract (``shopflow.events``); if
any is invalid the whole request is rejected with each invalid event's index, event_id and
errors, and nothing is published: a client never has to work out which half went through.
Valid requests are produced with acks=all and idempotence, and the answer waits for the
broker's delivery reports; when the broker cannot confirm, the request is refused as
unavailable. Clients should send their own ``event_id``s so that a retry after a 503 is
deduplicated by the consumers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from commerce.errors import Invalid, Unavailable
from shopflow import bus, embedded, events
from shopflow.config import Settings

RETRY_AFTER_S = 5


#: The whole body validated in one call (the fast path; the contract's own union of events).
_BATCH: TypeAdapter[list[events.Envelope]] = TypeAdapter(list[events.AnyEvent])


def parse_body(raw: bytes, max_batch: int) -> tuple[list[events.Envelope], bool]:
    """The validated events of a request body and whether it was a batch. Raises Invalid."""
    try:  # fast path: a valid body is parsed and validated in one pass
        if raw.lstrip()[:1] == b"[":
            batch = _BATCH.validate_json(raw)
            if 0 < len(batch) <= max_batch:
                return batch, True
        else:
            return [events.parse_event(raw)], False
    except ValidationError:
        pass
    return _parse_each(raw, max_batch)  # tell exactly what is wrong


def _parse_each(raw: bytes, max_batch: int) -> tuple[list[events.Envelope], bool]:
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Invalid(f"the body is not valid JSON: {exc}") from exc
    batch = isinstance(body, list)
    items = body if batch else [body]
    if not items:
        raise Invalid(f"the batch is empty; send one event or an array of 1 to {max_batch}")
    if len(items) > max_batch:
        raise Invalid(
            f"{len(items)} events in one request; at most {max_batch}", max_batch=max_batch
        )
    parsed: list[events.Envelope] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise TypeError(f"an event is a JSON object, not {type(item).__name__}")
            parsed.append(events.parse_event(item))
        except (ValidationError, TypeError) as exc:
            errors.append(_event_error(index, item, exc))
    if errors:
        raise Invalid(
            f"{len(errors)} of {len(items)} event(s) are invalid; none was accepted",
            errors=errors,
        )
    return parsed, batch


def _event_error(index: int, item: Any, exc: Exception) -> dict[str, Any]:
    event_id = item.get("event_id") if isinstance(item, dict) else None
    if isinstance(exc, ValidationError):
        detail = [
            {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
    else:
        detail = [{"loc": [], "msg": str(exc), "type": "type_error"}]
    return {"index": index, "event_id": event_id, "errors": detail}


async def publish(producer: bus.EventProducer, evs: list[events.Envelope]) -> list[str]:
    """Publish and wait for the broker. Raises Unavailable (with Retry-After) on failure."""
    try:
        return await producer.asend(evs)
    except bus.BusUnavailable as exc:
        raise Unavailable(
            f"the event bus did not confirm the events ({exc}); none should be considered "
            "accepted: retry with the same event_ids",
            retry_after=RETRY_AFTER_S,
        ) from exc


class LazyProducer:
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
                            f"the event bus is unavailable: {exc}", retry_after=RETRY_AFTER_S
                        ) from exc
        return self._producer

    async def close(self) -> None:
        """Flush what is in flight, within the API's close budget (``api_close_s``)."""
        if self._producer is not None:
            flush_s = max(0.5, self.settings.api_close_s - 1.0)
            await asyncio.to_thread(self._producer.close, flush_s)
