"""Notifications API: admin trigger, a user's messages, preferences, templates (admin CRUD +
preview), delivery statistics, vendor status webhooks, and the in-app WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from redis.exceptions import RedisError
from starlette.websockets import WebSocketDisconnect

from commerce.auth import Principal, decode_token
from commerce.errors import DomainError, Forbidden, Invalid, NotFound, Unauthorized
from commerce.notifications import (
    delivery,
    preferences,
    queries,
    service,
    template_admin,
    webhooks,
)
from commerce.notifications.workflows import ChannelName
from serving.deps import (
    DB_INT_MAX,
    AdminUser,
    CurrentUser,
    IdempotencyKey,
    NotifyChannelsDep,
    NotifyFanoutDep,
    Page50Dep,
    SettingsDep,
)
from serving.locations import locate
from serving.schemas import Updated
from serving.schemas_social import (
    NotificationOut,
    NotificationsOut,
    RenderedOut,
    StatsOut,
    TemplateOut,
    TemplatesOut,
    TemplateVersionsOut,
)

router = APIRouter(tags=["notifications"])

TemplateKey = Annotated[str, Path(pattern=r"^[a-z0-9_]{1,64}$")]
Version = Annotated[int, Path(ge=1, le=DB_INT_MAX)]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


# ---- trigger and messages ----------------------------------------------------------------
class TriggerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workflow: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    user_id: UserId
    data: dict[str, Any] = Field(default_factory=dict, description="Template context.")


@router.post(
    "/api/notifications/trigger",
    status_code=202,
    summary="Trigger a workflow for a user (admin; requires an Idempotency-Key)",
    response_model=NotificationOut,
)
def trigger(
    body: TriggerIn,
    background: BackgroundTasks,
    channels: NotifyChannelsDep,
    admin: AdminUser,
    idempotency_key: IdempotencyKey,
) -> JSONResponse:
    if not idempotency_key:
        raise Invalid("the Idempotency-Key header is required")
    status, result, replayed = service.trigger_once(
        body.workflow, body.user_id, body.data, idempotency_key
    )
    due = [d["id"] for d in result["deliveries"] if d["status"] == "queued" and not d["not_before"]]
    if due and not replayed:
        background.add_task(delivery.deliver_many, due, channels)
    return JSONResponse(
        result, status_code=status, headers={"Idempotent-Replayed": str(replayed).lower()}
    )


@router.get(
    "/api/notifications",
    summary="A user's messages (your own; admins: anyone's)",
    response_model=NotificationsOut,
)
def list_messages(
    page: Page50Dep,
    user: CurrentUser,
    user_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
) -> dict[str, Any]:
    target = user_id or user.user_id
    if target != user.user_id and not user.is_admin:
        raise Forbidden("you can only list your own notifications")
    return {"items": queries.messages_of(target, page.limit, page.offset)}


# ---- preferences -------------------------------------------------------------------------
@router.get("/api/notifications/preferences", summary="Your notification preferences")
def get_preferences(user: CurrentUser) -> preferences.Preferences:
    return preferences.preferences_of(user.user_id)


@router.put("/api/notifications/preferences", summary="Replace your notification preferences")
def put_preferences(body: preferences.Preferences, user: CurrentUser) -> preferences.Preferences:
    return preferences.replace_preferences(user.user_id, body)


# ---- templates (admin) -------------------------------------------------------------------
class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: Annotated[str | None, Field(max_length=2000)] = None
    text: Annotated[str, Field(min_length=1, max_length=100_000)]
    html: Annotated[str | None, Field(max_length=500_000)] = None


class PreviewIn(TemplateIn):
    channel: ChannelName
    key: str | None = Field(default=None, description="Template key: its workflow's sample.")
    data: dict[str, Any] = Field(default_factory=dict)


def _check_parts(channel: ChannelName, body: TemplateIn) -> None:
    if channel is ChannelName.email and not body.subject:
        raise Invalid("an email template needs a subject")
    if channel is not ChannelName.email and body.html:
        raise Invalid("only email templates have an HTML part")


@router.get(
    "/api/notifications/templates",
    summary="Active template versions (admin)",
    response_model=TemplatesOut,
)
def list_templates(admin: AdminUser) -> dict[str, Any]:
    return {"items": queries.active_templates()}


@router.get(
    "/api/notifications/templates/{key}/{channel}",
    summary="A template's versions",
    response_model=TemplateVersionsOut,
)
def get_template(key: TemplateKey, channel: ChannelName, admin: AdminUser) -> dict[str, Any]:
    versions = template_admin.template_versions(key, channel.value)
    return {"key": key, "channel": channel.value, "versions": versions}


@router.post(
    "/api/notifications/templates/{key}/{channel}",
    status_code=201,
    summary="Save a new version (validated, becomes active)",
    response_model=TemplateOut,
)
def save_template(
    key: TemplateKey, channel: ChannelName, body: TemplateIn, admin: AdminUser, response: Response
) -> dict[str, Any]:
    _check_parts(channel, body)
    locate(response, "/api/notifications/templates", key, channel.value)
    return template_admin.save_new_version(
        key, channel.value, body.subject, body.text, body.html, admin.user_id
    )


@router.post(
    "/api/notifications/templates/{key}/{channel}/versions/{version}/activate",
    summary="Make one version the active one (roll back or forward)",
    response_model=TemplateOut,
)
def activate_template(
    key: TemplateKey, channel: ChannelName, version: Version, admin: AdminUser
) -> dict[str, Any]:
    return template_admin.activate_version(key, channel.value, version)


@router.delete(
    "/api/notifications/templates/{key}/{channel}/versions/{version}",
    status_code=204,
    summary="Delete a version that is not in use",
)
def delete_template(
    key: TemplateKey, channel: ChannelName, version: Version, admin: AdminUser
) -> Response:
    template_admin.delete_version(key, channel.value, version)
    return Response(status_code=204)  # no body: JSONResponse(None) would send "null"


@router.post(
    "/api/notifications/templates/preview",
    summary="Render a template on sample data",
    response_model=RenderedOut,
)
def preview(body: PreviewIn, admin: AdminUser) -> dict[str, Any]:
    _check_parts(body.channel, body)
    return template_admin.preview(body.subject, body.text, body.html, body.key, body.data)


# ---- statistics (admin) ------------------------------------------------------------------
@router.get(
    "/api/notifications/stats",
    summary="Delivery statistics per workflow and channel",
    response_model=StatsOut,
)
def stats(admin: AdminUser) -> dict[str, Any]:
    return {"items": queries.delivery_statistics()}


# ---- vendor webhooks ---------------------------------------------------------------------
@router.post(
    "/api/notifications/webhooks/twilio",
    summary="Twilio message status callback",
    response_model=Updated,
)
async def twilio_webhook(request: Request, settings: SettingsDep) -> JSONResponse:
    if not settings.twilio_auth_token:
        raise NotFound("Twilio is not configured")
    form = await request.form()
    params = [(k, str(v)) for k, v in form.multi_items()]
    url = str(request.url)
    if settings.notify_public_base_url:
        url = settings.notify_public_base_url.rstrip("/") + request.url.path
        url += f"?{request.url.query}" if request.url.query else ""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not webhooks.twilio_valid(settings.twilio_auth_token, url, params, signature):
        raise Forbidden("invalid X-Twilio-Signature")
    changed = webhooks.apply_twilio_callback(dict(params))
    return JSONResponse({"updated": int(changed)})


@router.post(
    "/api/notifications/webhooks/sendgrid",
    summary="SendGrid signed event webhook",
    response_model=Updated,
)
async def sendgrid_webhook(request: Request, settings: SettingsDep) -> JSONResponse:
    if not settings.sendgrid_webhook_public_key:
        raise NotFound("the SendGrid event webhook is not configured")
    body = await request.body()
    signature = request.headers.get("X-Twilio-Email-Event-Webhook-Signature", "")
    timestamp = request.headers.get("X-Twilio-Email-Event-Webhook-Timestamp", "")
    if not webhooks.sendgrid_valid(settings.sendgrid_webhook_public_key, timestamp, body,
                                   signature):  # fmt: skip
        raise Forbidden("invalid SendGrid event webhook signature")
    try:
        items = json.loads(body)
    except ValueError as exc:
        raise Invalid("body is not JSON") from exc
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise Invalid("expected a JSON array of events")
    return JSONResponse({"updated": webhooks.apply_sendgrid_events(items)})


# ---- in-app WebSocket --------------------------------------------------------------------
def _ws_principal(websocket: WebSocket) -> tuple[Principal, str | None]:
    """JWT from ``?token=``, ``Authorization: Bearer``, or ``Sec-WebSocket-Protocol:
    bearer, <token>`` (then the "bearer" subprotocol is accepted)."""
    token, subprotocol = websocket.query_params.get("token"), None
    auth = websocket.headers.get("authorization", "")
    if not token and auth.lower().startswith("bearer "):
        token = auth[7:].strip()
    offered = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",")]
    if not token and len(offered) == 2 and offered[0].lower() == "bearer":
        token, subprotocol = offered[1], offered[0]
    if not token:
        raise Unauthorized("missing token")
    return decode_token(token), subprotocol


@router.websocket("/ws/notifications")
async def notifications_socket(websocket: WebSocket, fanout: NotifyFanoutDep) -> None:
    try:
        principal, subprotocol = _ws_principal(websocket)
    except DomainError:
        await websocket.close(code=1008, reason="invalid or missing token")
        return
    await websocket.accept(subprotocol=subprotocol)
    try:
        queue = await fanout.join(principal.user_id)
    except (RedisError, OSError):
        await websocket.close(code=1011, reason="notifications are unavailable")
        return
    try:
        await websocket.send_json({"type": "ready", "user_id": principal.user_id})

        async def forward() -> None:
            while True:
                await websocket.send_text(await queue.get())

        async def until_closed() -> None:
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass

        tasks = [asyncio.create_task(forward()), asyncio.create_task(until_closed())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                    await task
    finally:
        await fanout.leave(principal.user_id, queue)
