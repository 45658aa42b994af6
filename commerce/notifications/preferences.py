"""Per-user preferences and the rules applied to each delivery: opt-outs per channel and per
category (critical transactional workflows bypass them), quiet hours in the user's time zone
(the delivery is deferred to their end, not dropped), and a daily cap on marketing."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce.db import session_scope, utcnow
from commerce.db.models.notifications import NotificationPreference
from commerce.notifications.workflows import Category, ChannelName, Workflow
from commerce.privacy import fields

HHMM = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: HHMM = Field(description="Local time quiet hours begin (HH:MM).")
    end: HHMM = Field(description="Local time they end; before start means overnight.")


class Preferences(BaseModel):
    """What ``GET/PUT /api/notifications/preferences`` read and write."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$", description="E.164")
    push_token: str | None = Field(default=None, max_length=4096)
    timezone: str = "UTC"
    quiet_hours: QuietHours | None = None
    channels: dict[ChannelName, bool] = Field(default_factory=dict)
    categories: dict[Category, bool] = Field(default_factory=dict)
    marketing_daily_cap: int | None = Field(default=None, ge=0, le=100)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not EMAIL_RE.match(value):
            raise ValueError("not an email address")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def allows(self, channel: str, category: str) -> bool:
        return self.channels.get(ChannelName(channel), True) and self.categories.get(
            Category(category), True
        )

    def address(self, channel: str) -> str | None:
        return {"email": self.email, "sms": self.phone, "push": self.push_token}.get(channel)


def load(session: Session, user_id: str) -> Preferences:
    row = session.get(NotificationPreference, user_id)
    return Preferences() if row is None else from_row(session, row)


def load_many(session: Session, user_ids: Iterable[str]) -> dict[str, Preferences]:
    """Preferences of several users in one query (defaults for users without a row)."""
    wanted = set(user_ids)
    out = dict.fromkeys(wanted, Preferences())
    if wanted:
        query = select(NotificationPreference).where(NotificationPreference.user_id.in_(wanted))
        out.update({row.user_id: from_row(session, row) for row in session.scalars(query)})
    return out


def from_row(session: Session, row: NotificationPreference) -> Preferences:
    """The preferences of a row, contacts opened (None once the user was erased)."""
    quiet = (
        QuietHours(start=row.quiet_start, end=row.quiet_end)
        if row.quiet_start and row.quiet_end
        else None
    )
    return Preferences(
        email=fields.unseal(session, row.user_id, row.email),
        phone=fields.unseal(session, row.user_id, row.phone),
        push_token=fields.unseal(session, row.user_id, row.push_token),
        timezone=row.timezone,
        quiet_hours=quiet,
        channels=row.channels or {},
        categories=row.categories or {},
        marketing_daily_cap=row.marketing_daily_cap,
    )


def save(session: Session, user_id: str, prefs: Preferences) -> Preferences:
    row = session.get(NotificationPreference, user_id) or NotificationPreference(user_id=user_id)
    _set_contacts(session, row, prefs.email, prefs.phone, prefs.push_token)
    row.timezone = prefs.timezone
    row.quiet_start = prefs.quiet_hours.start if prefs.quiet_hours else None
    row.quiet_end = prefs.quiet_hours.end if prefs.quiet_hours else None
    row.channels = {k.value: v for k, v in prefs.channels.items()}
    row.categories = {k.value: v for k, v in prefs.categories.items()}
    row.marketing_daily_cap = prefs.marketing_daily_cap
    row.updated_at = utcnow()
    session.add(row)
    return prefs


def remember_email(session: Session, user_id: str, email: str) -> None:
    """Record a sign-up email (user.registered) unless the user already set one, or was
    erased (a late event brings no personal data back)."""
    if fields.is_erased(session, user_id):
        return
    row = session.get(NotificationPreference, user_id)
    if row is None:
        row = NotificationPreference(user_id=user_id, channels={}, categories={})
        _set_contacts(session, row, email, None, None)
        session.add(row)
    elif not row.email:
        row.email = fields.seal(session, user_id, email)
        row.email_hash = fields.email_hash(email)


def _set_contacts(
    session: Session,
    row: NotificationPreference,
    email: str | None,
    phone: str | None,
    push_token: str | None,
) -> None:
    row.email = fields.seal(session, row.user_id, email)
    row.phone = fields.seal(session, row.user_id, phone)
    row.push_token = fields.seal(session, row.user_id, push_token)
    row.email_hash = fields.email_hash(email)


def find_by_email(session: Session, email: str) -> str | None:
    """The user whose contact email this is (by its keyed hash), or None."""
    query = select(NotificationPreference.user_id).where(
        NotificationPreference.email_hash == fields.email_hash(email)
    )
    return session.scalars(query.limit(1)).first()


# ---- the rules ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    send: bool
    reason: str | None = None
    not_before: datetime | None = None


def decide(prefs: Preferences, workflow: Workflow, channel: str, now: datetime) -> Decision:
    """Whether and when one channel of one message goes out (the marketing cap is per
    message and checked by the caller)."""
    if channel != "in_app" and not prefs.address(channel):
        return Decision(False, f"no {channel} address")
    if workflow.critical:
        return Decision(True)
    if not prefs.allows(channel, workflow.category):
        return Decision(False, f"opted out of {channel}/{workflow.category.value}")
    if channel != "in_app" and prefs.quiet_hours:
        end = quiet_until(prefs.quiet_hours, prefs.timezone, now)
        if end is not None:
            return Decision(True, "quiet hours", end)
    return Decision(True)


def quiet_until(quiet: QuietHours, tz: str, now: datetime) -> datetime | None:
    """The UTC end of the quiet period ``now`` falls in, or None outside quiet hours."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    start, end = _hhmm(quiet.start), _hhmm(quiet.end)
    t = local.time()
    if start == end:
        return None
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    end_day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(now.tzinfo)


def local_day_start(tz: str, now: datetime) -> datetime:
    """UTC instant of the user's local midnight today (the marketing cap's day)."""
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(now.tzinfo)


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


# ---- one transaction each: what the notifications API calls -----------------------------------
def preferences_of(user_id: str) -> Preferences:
    with session_scope() as session:
        return load(session, user_id)


def replace_preferences(user_id: str, prefs: Preferences) -> Preferences:
    with session_scope() as session:
        return save(session, user_id, prefs)
