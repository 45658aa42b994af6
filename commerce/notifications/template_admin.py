"""Template administration: a template's versions, saving a new one, activating (rolling
back or forward), deleting an unused one, and previews on sample data. Each write runs in a
transaction of its own."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from commerce.db import session_scope
from commerce.errors import Conflict, Invalid, NotFound
from commerce.notifications import queries, templates
from commerce.notifications.workflows import load as load_workflows


def sample_for(key: str | None) -> dict[str, Any]:
    """The sample context of the workflow using template ``key`` (empty when none does)."""
    if key is None:
        return {}
    for workflow in load_workflows().by_name.values():
        if key in (workflow.template, workflow.digest.template if workflow.digest else None):
            return dict(workflow.sample)
    return {}


def template_versions(key: str, channel: str) -> list[dict[str, Any]]:
    """Every version of a template, newest first (the defaults are seeded on first use)."""
    with session_scope() as session:
        templates.active(session, key, channel)
        rows = templates.versions(session, key, channel)
        if not rows:
            raise NotFound(f"no template {key}/{channel}")
        return [queries.template_json(r) for r in rows]


def save_new_version(
    key: str, channel: str, subject: str | None, text: str, html: str | None, author: str
) -> dict[str, Any]:
    """Validate and store a new active version (Invalid if it does not render on the
    workflow's sample, Conflict if another version was saved at the same time)."""
    try:
        with session_scope() as session:
            templates.active(session, key, channel)
            row = templates.save_version(
                session, key, channel, subject, text, html, author, sample_for(key)
            )
            return queries.template_json(row)
    except templates.TemplateRenderError as exc:
        raise Invalid(f"template refused: {exc}", error="template") from exc
    except IntegrityError as exc:
        raise Conflict("another version was saved at the same time; retry") from exc


def activate_version(key: str, channel: str, version: int) -> dict[str, Any]:
    """Make ``version`` the active one: it and every older version active, newer ones not."""
    with session_scope() as session:
        rows = templates.versions(session, key, channel)
        chosen = next((r for r in rows if r.version == version), None)
        if chosen is None:
            raise NotFound(f"no version {version} of {key}/{channel}")
        for row in rows:
            row.active = row.version <= version
        return queries.template_json(chosen)


def delete_version(key: str, channel: str, version: int) -> None:
    """Delete a version that is not the active one (Conflict if it is)."""
    with session_scope() as session:
        row = templates.active(session, key, channel)
        if row is not None and row.version == version:
            raise Conflict("the active version cannot be deleted; activate another first")
        found = next(
            (r for r in templates.versions(session, key, channel) if r.version == version), None
        )
        if found is None:
            raise NotFound(f"no version {version} of {key}/{channel}")
        session.delete(found)


def preview(
    subject: str | None, text: str, html: str | None, key: str | None, data: dict[str, Any]
) -> dict[str, Any]:
    """Render template parts on the sample of ``key``'s workflow overlaid with ``data``."""
    context = {**sample_for(key), **data}
    try:
        rendered = templates.render(subject, text, html, context)
    except templates.TemplateRenderError as exc:
        raise Invalid(f"template refused: {exc}", error="template") from exc
    return {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}
