"""``POST /events``: behaviour events (one, or a batch of up to 500) onto the event bus.

Any credential may send anonymous visitors' events (no ``user_id``, or an ``anon-`` one); a
user token its own user's too; an admin or a secret key anyone's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.datastructures import State
from starlette.requests import ClientDisconnect

from commerce.auth import Principal
from commerce.errors import Forbidden
from serving import deps, fastlane
from serving import events_ingest as realtime_ingest
from serving.deps import EventProducerDep, SettingsDep, VisitorUser
from serving.events_ingest import LazyProducer
from shopflow.config import Settings

router = APIRouter(tags=["events"])


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
    openapi_extra=_BODY,
    responses={
        202: {"model": Accepted, "description": "Every event persisted by the broker"},
        401: {"description": "No or an invalid token or API key"},
        403: {"description": "An event for a user the credential may not act for; none accepted"},
        422: {"description": "Invalid events, with index, event_id and errors; none accepted"},
        503: {"description": "The event bus did not confirm; none accepted (Retry-After)"},
    },
)
async def post_events(
    request: Request, settings: SettingsDep, event_producer: EventProducerDep, caller: VisitorUser
) -> Response:
    """Validate every event against the contract and publish them (acks=all, idempotent),
    answering once the broker confirmed all of them. A batch with any invalid event is
    rejected whole. Send your own `event_id`s so that retries are deduplicated."""
    try:
        raw = await request.body()
    except ClientDisconnect:  # the client went away: nothing to answer, nothing published
        return Response(status_code=499)
    body = await _accept(raw, settings, event_producer, caller)
    return Response(body, status_code=202, media_type="application/json")


async def _accept(
    raw: bytes, settings: Settings, event_producer: LazyProducer, caller: Principal
) -> bytes:
    """Validate, check the caller may send each event, publish; the 202 body."""
    evs, _ = realtime_ingest.parse_body(raw, settings.events_max_batch)
    for index, event in enumerate(evs):
        if not caller.may_act_for(event.user_id):
            raise Forbidden(
                "this credential may not send events for that user",
                index=index,
                event_id=event.event_id,
            )
    producer = await event_producer.get()
    ids = await realtime_ingest.publish(producer, evs)
    return orjson.dumps({"accepted": len(ids), "event_ids": ids})


async def _authorize_fast(
    state: State, authorization: str | None, values: dict[str, Any]
) -> Principal:
    """The fast lane's ``VisitorUser`` (any credential); the handler gets the caller in the
    values, for the per-event check."""
    values["caller"] = await deps.lane_visitor(authorization, state.clients.settings)
    return values["caller"]


async def _events_fast(state: State, values: dict[str, Any]) -> bytes:
    """``POST /events`` on the fast lane (``serving.fastlane``): the same checks and body."""
    clients = state.clients
    return await _accept(values["body"], clients.settings, clients.event_producer, values["caller"])


def lane() -> fastlane.Lane:
    """The fast lane of ``POST /events`` (installed by the app's lifespan): a storefront sends
    one per behaviour event, the API's busiest write."""
    route = next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is post_events)
    provides: set[Callable[..., Any]] = {
        deps.get_settings_dep,
        deps.get_event_producer,
        deps.visitor_principal,
    }
    return fastlane.Lane(route, _events_fast, frozenset(provides), _authorize_fast, raw_body=True)
