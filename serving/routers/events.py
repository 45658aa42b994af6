"""``POST /events``: behaviour events (one, or a batch of up to 500) onto the event bus.

Any credential may send anonymous visitors' events (no ``user_id``, or an ``anon-`` one); a
user token its own user's too; an admin or a secret key anyone's."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from commerce.errors import Forbidden
from serving import events_ingest as realtime_ingest
from serving.deps import EventProducerDep, SettingsDep, VisitorUser

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
    body = orjson.dumps({"accepted": len(ids), "event_ids": ids})
    return Response(body, status_code=202, media_type="application/json")
