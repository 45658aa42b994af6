"""Versioned templates in the database, rendered by a sandboxed Jinja2.

A template that reaches for Python internals (``{{ ''.__class__ }}``, ``x._private``,
``x['__globals__']``) is refused when saved or previewed (static check) and, should one get
into the database anyway, fails to render in the sandbox: it never executes. Output is
bounded too: ``*`` and ``**`` are checked before they run (``{{ 'a' * 10000000 }}``) and a
part longer than ``Settings.template_max_output_chars`` stops rendering with an error.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commerce.db import session_scope
from commerce.db.models.notifications import NotificationTemplate
from commerce.notifications.formatting import money
from shopflow.config import get_settings

DEFAULTS_FILE = Path(__file__).with_name("default_templates.yaml")
EMAIL_PARTS = ("subject", "text", "html")


class TemplateRenderError(ValueError):
    """A template is unsafe, does not parse, or failed to render."""


@dataclass(frozen=True)
class Rendered:
    subject: str | None
    text: str
    html: str | None
    version: int | None = None


class TooLong(TemplateRenderError):
    """A template's output would pass ``Settings.template_max_output_chars``."""


def _max_chars() -> int:
    return get_settings().template_max_output_chars


class _BoundedEnvironment(SandboxedEnvironment):
    """A sandbox whose ``*`` and ``**`` refuse results past the output cap before computing
    them (a repeated string or list, or a huge power)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int) and abs(right) > 1000:  # keeps a power small
                raise TooLong("exponent too large")
            return operator.pow(left, right)
        for seq, times in ((left, right), (right, left)):
            repeats = isinstance(seq, str | list | tuple) and isinstance(times, int)
            if repeats and len(seq) * times > _max_chars():
                raise TooLong(f"a repetition longer than {_max_chars()} characters")
        return operator.mul(left, right)


def _env(autoescape: bool) -> SandboxedEnvironment:
    env = _BoundedEnvironment(autoescape=autoescape, undefined=StrictUndefined)
    env.filters["money"] = money
    return env


_TEXT = _env(autoescape=False)
_HTML = _env(autoescape=True)


@lru_cache(maxsize=1024)
def check_source(source: str, part: str) -> None:
    """Parse a template and refuse any access to underscore (internal) names. Cached: only
    sources that passed are remembered (an exception is never cached)."""
    try:
        tree = _TEXT.parse(source)
    except TemplateError as exc:
        raise TemplateRenderError(f"{part}: {exc}") from exc
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name, nodes.Const)):
        name = None
        if isinstance(node, nodes.Const):  # e.g. x|attr('__class__')
            if isinstance(node.value, str) and node.value.startswith("__"):
                name = node.value
        elif isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Name):
            name = node.name
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            name = node.arg.value
        if name is not None and name.startswith("_"):
            raise TemplateRenderError(f"{part}: access to {name!r} is not allowed")


@lru_cache(maxsize=1024)
def _compiled(source: str, html: bool) -> Template:
    return (_HTML if html else _TEXT).from_string(source)


def _render(source: str | None, context: dict[str, Any], html: bool, part: str) -> str | None:
    if source is None:
        return None
    limit = _max_chars()
    try:
        out: list[str] = []
        length = 0
        for chunk in _compiled(source, html).generate(context):
            length += len(chunk)
            if length > limit:
                raise TooLong(f"output is longer than {limit} characters")
            out.append(chunk)
        return "".join(out).strip()
    except TooLong as exc:
        raise TemplateRenderError(f"{part}: {exc}") from exc
    except Exception as exc:  # SecurityError, UndefinedError, a filter's error...
        raise TemplateRenderError(f"{part}: {type(exc).__name__}: {exc}") from exc


def render(
    subject: str | None,
    text: str,
    html: str | None,
    context: dict[str, Any],
    version: int | None = None,
) -> Rendered:
    """Render the parts of a template (HTML autoescaped). Raises TemplateRenderError."""
    for part, source in (("subject", subject), ("text", text), ("html", html)):
        if source is not None:
            check_source(source, part)
    return Rendered(
        subject=_render(subject, context, False, "subject"),
        text=_render(text, context, False, "text") or "",
        html=_render(html, context, True, "html"),
        version=version,
    )


def render_row(row: NotificationTemplate, context: dict[str, Any]) -> Rendered:
    return render(row.subject, row.text, row.html, context, row.version)


# ---- storage -----------------------------------------------------------------------------
@lru_cache(maxsize=1)
def defaults() -> dict[str, dict[str, dict[str, str]]]:
    loaded: dict[str, dict[str, dict[str, str]]] = yaml.safe_load(DEFAULTS_FILE.read_text())
    return loaded


def seed_defaults(session: Session) -> int:
    """Insert version 1 of each default template that has no version yet. Returns how many."""
    existing = set(session.execute(select(NotificationTemplate.key, NotificationTemplate.channel)))
    added = 0
    for key, channels in defaults().items():
        for channel, parts in channels.items():
            if (key, channel) in existing:
                continue
            session.add(
                NotificationTemplate(
                    key=key,
                    channel=channel,
                    version=1,
                    subject=parts.get("subject"),
                    text=parts["text"],
                    html=parts.get("html"),
                )
            )
            added += 1
    return added


def ensure_seeded() -> None:
    """Seed the defaults in their own transaction (concurrent seeders: one wins)."""
    try:
        with session_scope() as session:
            seed_defaults(session)
    except IntegrityError:
        pass


def active(session: Session, key: str, channel: str) -> NotificationTemplate | None:
    """The highest active version of a template, seeding the defaults on first use."""
    row = _active(session, key, channel)
    if row is None and key in defaults() and channel in defaults()[key]:
        ensure_seeded()
        row = _active(session, key, channel)
    return row


def _active(session: Session, key: str, channel: str) -> NotificationTemplate | None:
    return session.scalars(
        select(NotificationTemplate)
        .where(
            NotificationTemplate.key == key,
            NotificationTemplate.channel == channel,
            NotificationTemplate.active.is_(True),
        )
        .order_by(NotificationTemplate.version.desc())
        .limit(1)
    ).one_or_none()


def versions(session: Session, key: str, channel: str) -> list[NotificationTemplate]:
    return list(
        session.scalars(
            select(NotificationTemplate)
            .where(NotificationTemplate.key == key, NotificationTemplate.channel == channel)
            .order_by(NotificationTemplate.version.desc())
        )
    )


def save_version(
    session: Session,
    key: str,
    channel: str,
    subject: str | None,
    text: str,
    html: str | None,
    author: str,
    sample: dict[str, Any],
) -> NotificationTemplate:
    """Validate (static check + a render against ``sample``) and store a new active version.
    The unique (key, channel, version) constraint turns a concurrent save into an
    IntegrityError for the caller to report."""
    render(subject, text, html, sample)
    latest = session.scalar(
        select(func.max(NotificationTemplate.version)).where(
            NotificationTemplate.key == key, NotificationTemplate.channel == channel
        )
    )
    row = NotificationTemplate(
        key=key,
        channel=channel,
        version=(latest or 0) + 1,
        subject=subject,
        text=text,
        html=html,
        created_by=author,
    )
    session.add(row)
    session.flush()
    return row
