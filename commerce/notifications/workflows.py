"""The event -> workflow mapping, loaded from configuration (``Settings.notifications_file``,
default ``notifications.yaml``); reloaded when the file changes."""

from __future__ import annotations

import threading
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shopflow import events
from shopflow.config import Settings, get_settings
from shopflow.events import Envelope


class Category(StrEnum):
    transactional = "transactional"
    alerts = "alerts"
    marketing = "marketing"


class ChannelName(StrEnum):
    email = "email"
    sms = "sms"
    push = "push"
    in_app = "in_app"


class Digest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    events: list[str] = Field(min_length=1)
    window_s: float = Field(gt=0)
    template: str = Field(min_length=1)


class Workflow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    events: list[str] = Field(default_factory=list)
    category: Category
    critical: bool = False
    channels: list[ChannelName] = Field(min_length=1)
    template: str = ""
    digest: Digest | None = None
    sample: dict[str, Any] = Field(default_factory=dict)
    #: user: the event's user; admins: each of ``Settings.notify_admin_user_ids``
    audience: Literal["user", "admins"] = "user"
    #: a feature (experiments.yaml) whose value is the email subject (subject_tests.py)
    subject_feature: str = ""

    @model_validator(mode="after")
    def _check(self) -> Workflow:
        if not self.template:
            object.__setattr__(self, "template", self.name)
        if self.critical and self.category is not Category.transactional:
            raise ValueError("only transactional workflows can be critical")
        for event_type in [*self.events, *(self.digest.events if self.digest else [])]:
            if event_type not in events.PAYLOADS:
                raise ValueError(f"unknown event type {event_type!r}")
        if self.digest and not set(self.digest.events) <= set(self.events):
            raise ValueError("digest events must be among the workflow's events")
        return self

    def digests(self, event_type: str | None) -> bool:
        return self.digest is not None and event_type in self.digest.events

    def recipients(self, event: Envelope, admins: list[str]) -> list[tuple[str, str]]:
        """(user id, source id) of each message an event makes: its user's, or one per
        admin (the source id names the admin, so each gets one message per event)."""
        if self.audience == "admins":
            return [(admin, f"{event.event_id}:{admin}") for admin in admins]
        return [(event.user_id, event.event_id)] if event.user_id else []


class WorkflowConfigError(ValueError):
    """The workflow file is missing or invalid."""


class Workflows:
    def __init__(self, workflows: list[Workflow]) -> None:
        self.by_name = {w.name: w for w in workflows}
        self.by_event: dict[str, list[Workflow]] = {}
        for workflow in workflows:
            for event_type in workflow.events:
                self.by_event.setdefault(event_type, []).append(workflow)

    def get(self, name: str) -> Workflow | None:
        return self.by_name.get(name)

    def for_event(self, event_type: str) -> list[Workflow]:
        return self.by_event.get(event_type, [])

    @property
    def event_types(self) -> set[str]:
        return set(self.by_event)

    def templates(self) -> set[str]:
        keys = {w.template for w in self.by_name.values()}
        return keys | {w.digest.template for w in self.by_name.values() if w.digest}


def parse(data: Any) -> Workflows:
    if not isinstance(data, dict) or not isinstance(data.get("workflows"), dict):
        raise WorkflowConfigError("expected a mapping with a 'workflows' mapping")
    items = []
    for name, body in data["workflows"].items():
        try:
            items.append(Workflow(name=name, **(body or {})))
        except (ValidationError, TypeError) as exc:
            raise WorkflowConfigError(f"workflow {name!r}: {exc}") from exc
    return Workflows(items)


_cache: dict[Path, tuple[float, Workflows]] = {}
_lock = threading.Lock()


def load(settings: Settings | None = None) -> Workflows:
    """The configured workflows (cached per file, reloaded when its mtime changes)."""
    path = (settings or get_settings()).notifications_file  # resolved by Settings
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise WorkflowConfigError(f"notifications file {path} not found") from exc
    with _lock:
        cached = _cache.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise WorkflowConfigError(f"{path}: {exc}") from exc
        workflows = parse(data)
        _cache[path] = (mtime, workflows)
        return workflows
