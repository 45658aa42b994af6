"""``shopflow privacy``: export everything held about a user, erase a user, and finish
pending erasures in landing and the warehouse (what the ``privacy_erasure`` job does)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from commerce.auth import Principal

NAME = "privacy"
app = typer.Typer(help="Users' data: export (GDPR art. 15/20) and erasure (art. 17).",
                  no_args_is_help=True)  # fmt: skip


def _operator() -> Principal:
    from commerce.auth import Principal, Role

    return Principal(user_id="cli", roles=frozenset({Role.admin}))


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@app.command("export")
def export(
    user: str = typer.Argument(..., help="The user id."),
    out: Path | None = typer.Option(None, "--out", help="Write it here (default: stdout)."),
) -> None:
    """Print (or write) one JSON document with everything held about USER."""
    from commerce import audit
    from commerce.errors import DomainError
    from commerce.privacy import service

    try:
        doc = service.export_user(_operator(), user)
    except DomainError as exc:
        raise _fail(exc.detail) from exc
    audit.record_cli("privacy export", 0, {"user_id": user})
    text = json.dumps(doc, indent=2, default=str)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")
        typer.echo(f"wrote {out}")


@app.command("erase")
def erase(
    user: str = typer.Argument(..., help="The user id."),
    pipeline: bool = typer.Option(
        True, help="Also remove the user's rows from landing and the warehouse now."
    ),
) -> None:
    """Erase USER: data key destroyed, online features and personal records deleted,
    reviews anonymised, payments kept without PII; then landing and the warehouse."""
    from commerce import audit
    from commerce.errors import DomainError
    from commerce.privacy import service

    try:
        req = service.erase_user(_operator(), user)
    except DomainError as exc:
        raise _fail(exc.detail) from exc
    audit.record_cli("privacy erase", 0, {"user_id": user, "erasure_id": req["id"]})
    if pipeline:
        _finish_pending()
        req = _request(req["id"])
    typer.echo(json.dumps(req, indent=2))


@app.command("finish")
def finish() -> None:
    """Finish erasures waiting for landing and the warehouse (as the privacy_erasure job)."""
    done = _finish_pending()
    typer.echo(f"finished {len(done)} erasure(s), {sum(done.values())} rows removed")


@app.command("seal-existing")
def seal_existing() -> None:
    """Seal PII written before field encryption (run once after upgrading; idempotent)."""
    from commerce.privacy.backfill import seal_existing as run

    counts = run()
    typer.echo(", ".join(f"{table}: {n} sealed" for table, n in counts.items()))


def _finish_pending() -> dict[str, int]:
    from pipelines.privacy import run_pending
    from shopflow.config import get_settings

    settings = get_settings()
    try:
        return run_pending(
            [settings.landing_dir, settings.import_quarantine_dir], settings.warehouse_path
        )
    except Exception as exc:  # a locked warehouse: say so, the request stays pending
        raise _fail(f"could not finish pending erasures (retry later): {exc}") from exc


def _request(request_id: str) -> dict[str, object]:
    from commerce.db import session_scope
    from commerce.privacy import erasure

    with session_scope() as session:
        return erasure.request_dict(erasure.locked(session, request_id))
