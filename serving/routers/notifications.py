"""Notifications API: admin trigger, a user's messages, preferences, templates (admin CRUD +
preview), delivery statistics, vendor status webhooks, and the in-app WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError
from starlette.websockets import WebSocketDisconnect

from commerce.auth import Principal, decode_token
from commerce.db import session_scope, utcnow
from commerce.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unauthorized
from commerce.idempotency import run_idempotent
from commerce.notifications import (
    delivery,
    preferences,
    queries,
    service,
    templates,
    webhooks,
)
from commerce.notifications.workflows import ChannelName, WorkflowConfigError
from commerce.notifications.workflows import load as load_workflows
from serving.deps import (
    AdminUser,
    CurrentUser,
    IdempotencyKey,
    NotifyChannelsDep,
    NotifyFanoutDep,
    SettingsDep,
)

router = APIRouter(tags=["notifications"])

TemplateKey = Annotated[str, Path(pattern=r"^[a-z0-9_]{1,64}$")]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


def _workflow(name: str) -> Any:
    try:
        workflow = load_workflows().get(name)
    except WorkflowConfigError as exc:
        raise Invalid(f"notification workflows are misconfigured: {exc}") from exc
    if workflow is None:
        raise NotFound(f"no workflow {name!r}")
    return workflow


# ---- trigger and messages ----------------------------------------------------------------
def _dry_render(workflow: Any, context: dict[str, Any]) -> None:
    """Refuse (422) data the workflow's templates cannot render, before anything is stored."""
    with session_scope() as session:
        for channel in workflow.channels:
            row = templates.active(session, workflow.template, channel.value)
            if row is None:
                raise Invalid(f"no template {workflow.template!r} for channel {channel.value}")
            try:
                templates.render_row(row, context)
            except templates.TemplateRenderError as exc:
                raise Invalid(f"data does not render: {channel.value} {exc}") from exc


class TriggerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workflow: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    user_id: UserId
    data: dict[str, Any] = Field(default_factory=dict, description="Template context.")


@router.post(
    "/api/notifications/trigger",
    status_code=202,
    summary="Trigger a workflow for a user (admin; requires an Idempotency-Key)",
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
    workflow = _workflow(body.workflow)

    def handler() -> tuple[int, Any]:
        context = {**body.data, "user_id": body.user_id}
        _dry_render(workflow, context)
        done = service.trigger(workflow, body.user_id, context, f"api:{idempotency_key}")
        with session_scope() as session:
            return 202, queries.notification_json(session, done.notification_id)

    status, result, replayed = run_idempotent(
        idempotency_key, "notifications.trigger", body.model_dump(), handler
    )
    due = [d["id"] for d in result["deliveries"] if d["status"] == "queued" and not d["not_before"]]
    if due and not replayed:
        background.add_task(delivery.deliver_many, due, channels)
    return JSONResponse(
        result, status_code=status, headers={"Idempotent-Replayed": str(replayed).lower()}
    )


@router.get("/api/notifications", summary="A user's messages (your own; admins: anyone's)")
def list_messages(
    user: CurrentUser,
    user_id: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    target = user_id or user.user_id
    if target != user.user_id and not user.is_admin:
        raise Forbidden("you can only list your own notifications")
    with session_scope() as session:
        return {"items": queries.list_for_user(session, target, limit, offset)}


# ---- preferences -------------------------------------------------------------------------
@router.get("/api/notifications/preferences", summary="Your notification preferences")
def get_preferences(user: CurrentUser) -> preferences.Preferences:
    with session_scope() as session:
        return preferences.load(session, user.user_id)


@router.put("/api/notifications/preferences", summary="Replace your notification preferences")
def put_preferences(body: preferences.Preferences, user: CurrentUser) -> preferences.Preferences:
    with session_scope() as session:
        return preferences.save(session, user.user_id, body)


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


def _sample(key: str | None) -> dict[str, Any]:
    if key is None:
        return {}
    for workflow in load_workflows().by_name.values():
        if key in (workflow.template, workflow.digest.template if workflow.digest else None):
            return dict(workflow.sample)
    return {}


def _check_parts(channel: ChannelName, body: TemplateIn) -> None:
    if channel is ChannelName.email and not body.subject:
        raise Invalid("an email template needs a subject")
    if channel is not ChannelName.email and body.html:
        raise Invalid("only email templates have an HTML part")


@router.get("/api/notifications/templates", summary="Active template versions (admin)")
def list_templates(admin: AdminUser) -> dict[str, Any]:
    with session_scope() as session:
        return {"items": queries.templates_json(session)}


@router.get("/api/notifications/templates/{key}/{channel}", summary="A template's versions")
def get_template(key: TemplateKey, channel: ChannelName, admin: AdminUser) -> dict[str, Any]:
    with session_scope() as session:
        templates.active(session, key, channel.value)  # seeds defaults on first use
        rows = templates.versions(session, key, channel.value)
        if not rows:
            raise NotFound(f"no template {key}/{channel.value}")
        return {"key": key, "channel": channel.value,
                "versions": [queries.template_json(r) for r in rows]}  # fmt: skip


@router.post(
    "/api/notifications/templates/{key}/{channel}",
    status_code=201,
    summary="Save a new version (validated, becomes active)",
)
def save_template(
    key: TemplateKey, channel: ChannelName, body: TemplateIn, admin: AdminUser
) -> dict[str, Any]:
    _check_parts(channel, body)
    try:
        with session_scope() as session:
            templates.active(session, key, channel.value)
            row = templates.save_version(
                session, key, channel.value, body.subject, body.text, body.html,
                admin.user_id, _sample(key),
            )  # fmt: skip
            return queries.template_json(row)
    except templates.TemplateRenderError as exc:
        raise Invalid(f"template refused: {exc}", error="template") from exc
    except IntegrityError as exc:
        raise Conflict("another version was saved at the same time; retry") from exc


@router.post(
    "/api/notifications/templates/{key}/{channel}/versions/{version}/activate",
    summary="Make one version the active one (roll back or forward)",
)
def activate_template(
    key: TemplateKey, channel: ChannelName, version: int, admin: AdminUser
) -> dict[str, Any]:
    with session_scope() as session:
        rows = templates.versions(session, key, channel.value)
        chosen = next((r for r in rows if r.version == version), None)
        if chosen is None:
            raise NotFound(f"no version {version} of {key}/{channel.value}")
        for row in rows:
            row.active = row.version <= version
        return queries.template_json(chosen)


@router.delete(
    "/api/notifications/templates/{key}/{channel}/versions/{version}",
    status_code=204,
    summary="Delete a version that is not in use",
)
def delete_template(
    key: TemplateKey, channel: ChannelName, version: int, admin: AdminUser
) -> JSONResponse:
    with session_scope() as session:
        row = templates.active(session, key, channel.value)
        if row is not None and row.version == version:
            raise Conflict("the active version cannot be deleted; activate another first")
        found = next(
            (r for r in templates.versions(session, key, channel.value) if r.version == version),
            None,
        )
        if found is None:
            raise NotFound(f"no version {version} of {key}/{channel.value}")
        session.delete(found)
    return JSONResponse(None, status_code=204)


@router.post("/api/notifications/templates/preview", summary="Render a template on sample data")
def preview(body: PreviewIn, admin: AdminUser) -> dict[str, Any]:
    _check_parts(body.channel, body)
    context = {**_sample(body.key), **body.data}
    try:
        rendered = templates.render(body.subject, body.text, body.html, context)
    except templates.TemplateRenderError as exc:
        raise Invalid(f"template refused: {exc}", error="template") from exc
    return {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}


# ---- statistics (admin) ------------------------------------------------------------------
@router.get("/api/notifications/stats", summary="Delivery statistics per workflow and channel")
def stats(admin: AdminUser) -> dict[str, Any]:
    with session_scope() as session:
        return {"items": queries.delivery_stats(session)}


# ---- vendor webhooks ---------------------------------------------------------------------
@router.post("/api/notifications/webhooks/twilio", summary="Twilio message status callback")
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
    fields = dict(params)
    status = webhooks.TWILIO_STATUS.get(fields.get("MessageStatus", ""))
    if not fields.get("MessageSid"):
        raise Invalid("MessageSid is required")
    changed = False
    if status:
        error = f"twilio error {fields['ErrorCode']}" if fields.get("ErrorCode") else None
        with session_scope() as session:
            changed = webhooks.apply(
                session, status, utcnow(), provider_message_id=fields["MessageSid"], error=error
            )
    return JSONResponse({"updated": int(changed)})


@router.post("/api/notifications/webhooks/sendgrid", summary="SendGrid signed event webhook")
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
    updated = 0
    with session_scope() as session:
        for item in items:
            status = webhooks.SENDGRID_STATUS.get(str(item.get("event")))
            if status is None:
                continue
            message_id = webhooks.sendgrid_message_id(str(item.get("sg_message_id", "")))
            error = item.get("reason") or item.get("response")
            updated += webhooks.apply(
                session, status, utcnow(), provider_message_id=message_id or None,
                delivery_id=item.get("delivery_id"), error=str(error) if error else None,
            )  # fmt: skip
    return JSONResponse({"updated": updated})


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
