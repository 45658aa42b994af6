"""Trigger -> render -> deliver.

``handle_event`` maps an event to its workflows (configuration) and creates one message per
workflow, idempotent on the event id; ``trigger`` does the same for an explicit workflow
(the admin API). Each message gets one delivery record per channel, decided by the user's
preferences; ``delivery.deliver_many`` then sends the ones due now. ``handle_events`` applies a
consumer's batch in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commerce import outbox
from commerce.db import session_scope, utcnow
from commerce.db.models.notifications import Notification, NotificationDelivery
from commerce.errors import Invalid, NotFound
from commerce.idempotency import run_idempotent
from commerce.notifications import digests, preferences, queries, templates, workflows
from commerce.notifications.subject_tests import subject_variant
from commerce.notifications.workflows import Category, Workflow
from commerce.notifications.writes import write_scope
from shopflow import events
from shopflow.config import get_settings


@dataclass
class Triggered:
    """What a trigger did: the message (None when digested or unknown), whether it is new,
    and the delivery ids that are due now."""

    notification_id: str | None
    created: bool
    due_now: list[str] = field(default_factory=list)
    digested: bool = False


def event_context(event: events.Envelope) -> dict[str, Any]:
    """Template context of an event: payload fields plus envelope facts."""
    context = event.payload.model_dump(mode="json")
    context.update(
        event_type=event.event_type,
        event_id=event.event_id,
        user_id=event.user_id,
        occurred_at=event.occurred_at.isoformat(),
    )
    return context


def handle_events(batch: Sequence[events.Envelope], now: datetime | None = None) -> list[Triggered]:
    """Apply a batch of events (a consumer's poll) in one transaction. Should a concurrent
    worker create one of the same messages first, the batch is redone one event at a time."""
    now = now or utcnow()
    try:
        with write_scope() as session:
            return _apply(session, batch, now)
    except IntegrityError:
        return [t for event in batch for t in handle_event(event, now)]


def _apply(session: Session, batch: Sequence[events.Envelope], now: datetime) -> list[Triggered]:
    """Existing messages and preferences are read once for the batch; inserts are flushed
    together at commit."""
    for event in batch:
        _remember_email(session, event)
    config = workflows.load()
    admins = get_settings().notify_admin_user_ids
    messages = [
        (event, workflow, user_id, source_id)
        for event in batch
        for workflow in config.for_event(event.event_type)
        for user_id, source_id in workflow.recipients(event, admins)
    ]
    known = _existing_many(session, {m[3] for m in messages})
    prefs = preferences.load_many(session, {m[2] for m in messages})
    out = []
    for event, workflow, user_id, source_id in messages:
        context = event_context(event)
        if workflow.digests(event.event_type):
            created = digests.add(session, workflow, user_id, source_id, context, now)
            out.append(Triggered(None, created, digested=True))
            continue
        key = (workflow.name, source_id)
        if key in known:
            out.append(Triggered(known[key], False))
            continue
        triggered = create(session, workflow, user_id, context, source_id, now,
                           prefs=prefs[user_id])  # fmt: skip
        known[key] = triggered.notification_id
        out.append(triggered)
    return out


def _existing_many(session: Session, source_ids: set[str]) -> dict[tuple[str, str], str | None]:
    if not source_ids:
        return {}
    rows = session.execute(
        select(Notification.workflow, Notification.source_id, Notification.id).where(
            Notification.source_id.in_(source_ids)
        )
    )
    return {(workflow, source): id_ for workflow, source, id_ in rows}


def _remember_email(session: Session, event: events.Envelope) -> None:
    if event.event_type == "user.registered" and event.user_id:
        email = getattr(event.payload, "email", None)
        if email:
            preferences.remember_email(session, event.user_id, email)


def handle_event(event: events.Envelope, now: datetime | None = None) -> list[Triggered]:
    """Apply one event, one transaction per workflow: remember sign-up emails, trigger every
    workflow it maps to."""
    now = now or utcnow()
    with write_scope() as session:
        _remember_email(session, event)
    admins = get_settings().notify_admin_user_ids
    out = []
    for workflow in workflows.load().for_event(event.event_type):
        for user_id, source_id in workflow.recipients(event, admins):
            context = event_context(event)
            if workflow.digests(event.event_type):
                out.append(_digest(workflow, user_id, source_id, context, now))
            else:
                out.append(trigger(workflow, user_id, context, source_id, now))
    return out


def _digest(
    workflow: Workflow, user_id: str, source_id: str, context: dict[str, Any], now: datetime
) -> Triggered:
    try:
        with write_scope() as session:
            created = digests.add(session, workflow, user_id, source_id, context, now)
    except IntegrityError:
        created = False
    return Triggered(None, created, digested=True)


def trigger(
    workflow: Workflow,
    user_id: str,
    context: dict[str, Any],
    source_id: str,
    now: datetime | None = None,
    template: str | None = None,
) -> Triggered:
    """Create the message of ``workflow`` for ``source_id`` once; a repeat returns the first."""
    now = now or utcnow()
    try:
        with write_scope() as session:
            existing = _existing(session, workflow.name, source_id)
            if existing is not None:
                return Triggered(existing, False)
            return create(session, workflow, user_id, context, source_id, now, template)
    except IntegrityError:  # a concurrent trigger of the same source won
        with session_scope() as session:
            return Triggered(_existing(session, workflow.name, source_id), False)


def _existing(session: Session, workflow: str, source_id: str) -> str | None:
    return session.scalar(
        select(Notification.id).where(
            Notification.workflow == workflow, Notification.source_id == source_id
        )
    )


def create(
    session: Session,
    workflow: Workflow,
    user_id: str,
    context: dict[str, Any],
    source_id: str,
    now: datetime,
    template: str | None = None,
    prefs: preferences.Preferences | None = None,
) -> Triggered:
    """Insert the message and one delivery per channel, applying the user's preferences."""
    prefs = prefs or preferences.load(session, user_id)
    if workflow.subject_feature:  # an email subject experiment picks the subject per user
        context, exposure = subject_variant(workflow.subject_feature, user_id, context)
        if exposure is not None:
            outbox.enqueue(session, "rec_impression", exposure, user_id, user_id=user_id)
    notification = Notification(
        id=uuid.uuid4().hex,
        user_id=user_id,
        workflow=workflow.name,
        category=workflow.category.value,
        source_id=source_id,
        template=template or workflow.template,
        context=context,
        created_at=now,
    )
    if workflow.category is Category.marketing and _over_marketing_cap(
        session, prefs, user_id, now
    ):
        notification.suppressed = "daily marketing cap reached"
    session.add(notification)
    due: list[str] = []
    for channel in workflow.channels:
        delivery = NotificationDelivery(
            id=uuid.uuid4().hex,
            notification_id=notification.id,
            user_id=user_id,
            workflow=workflow.name,
            category=workflow.category.value,
            channel=channel.value,
            status="queued",
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        decision = preferences.decide(prefs, workflow, channel.value, now)
        if notification.suppressed:
            delivery.status, delivery.reason = "skipped", notification.suppressed
        elif not decision.send:
            delivery.status, delivery.reason = "skipped", decision.reason
        elif decision.not_before is not None:
            delivery.not_before, delivery.reason = decision.not_before, decision.reason
        else:
            due.append(delivery.id)
        session.add(delivery)
    return Triggered(notification.id, True, due)


def _over_marketing_cap(
    session: Session, prefs: preferences.Preferences, user_id: str, now: datetime
) -> bool:
    if prefs.marketing_daily_cap is None:
        return False
    since = preferences.local_day_start(prefs.timezone, now)
    sent_today = session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(
            Notification.user_id == user_id,
            Notification.category == Category.marketing.value,
            Notification.suppressed.is_(None),
            Notification.created_at >= since,
        )
    )
    return int(sent_today or 0) >= prefs.marketing_daily_cap


def flush_digests(now: datetime | None = None) -> list[Triggered]:
    """Turn every digest whose window closed into one message."""
    now = now or utcnow()
    out = []
    config = workflows.load()
    for user_id, name in digests.due_groups(now):
        workflow = config.get(name)
        if workflow is None or workflow.digest is None:
            continue
        try:
            with write_scope() as session:
                batch = digests.take(session, user_id, name, now)
                if batch is None:
                    continue
                source_id, context, items = batch
                triggered = create(
                    session, workflow, user_id, context, source_id, now, workflow.digest.template
                )
                digests.mark(items, triggered.notification_id)
        except IntegrityError:  # another worker flushed this window
            continue
        out.append(triggered)
    return out


# ---- the API's trigger ------------------------------------------------------------------------
def workflow_named(name: str) -> Workflow:
    """The configured workflow ``name`` (NotFound; Invalid when the file is misconfigured)."""
    try:
        workflow = workflows.load().get(name)
    except workflows.WorkflowConfigError as exc:
        raise Invalid(f"notification workflows are misconfigured: {exc}") from exc
    if workflow is None:
        raise NotFound(f"no workflow {name!r}")
    return workflow


def _dry_render(workflow: Workflow, context: dict[str, Any]) -> None:
    """Refuse (Invalid) data the workflow's templates cannot render, before anything is stored."""
    with session_scope() as session:
        for channel in workflow.channels:
            row = templates.active(session, workflow.template, channel.value)
            if row is None:
                raise Invalid(f"no template {workflow.template!r} for channel {channel.value}")
            try:
                templates.render_row(row, context)
            except templates.TemplateRenderError as exc:
                raise Invalid(f"data does not render: {channel.value} {exc}") from exc


def trigger_once(
    workflow_name: str, user_id: str, data: dict[str, Any], idempotency_key: str
) -> tuple[int, dict[str, Any], bool]:
    """Trigger a workflow for a user once per idempotency key: (status, message, replayed).
    Data its templates cannot render is refused before anything is stored."""
    workflow = workflow_named(workflow_name)

    def handler() -> tuple[int, Any]:
        context = {**data, "user_id": user_id}
        _dry_render(workflow, context)
        done = trigger(workflow, user_id, context, f"api:{idempotency_key}")
        with session_scope() as session:
            return 202, queries.notification_json(session, done.notification_id)

    payload = {"workflow": workflow_name, "user_id": user_id, "data": data}
    return run_idempotent(idempotency_key, "notifications.trigger", payload, handler)
