"""``shopflow payments``: the authorization-expiry job and the generated payments docs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

NAME = "payments"
app = typer.Typer(help="Payments: expire lapsed authorizations, generate docs/payments.md.")


@app.command("expire-authorizations")
def expire_authorizations(
    now: str = typer.Option(
        None, help="Treat this ISO-8601 UTC time as now (default: the clock)."
    ),
) -> None:
    """Release every manual-capture authorization older than its hold (run it from cron)."""
    from cli.main import fail
    from commerce.payments import service

    at = None
    if now is not None:
        try:
            at = datetime.fromisoformat(now)
        except ValueError as exc:
            raise fail(f"--now must be an ISO-8601 time, got {now!r}") from exc
        if at.tzinfo is None:
            raise fail("--now needs a UTC offset (e.g. 2026-01-01T00:00:00+00:00)")
    released = service.expire_authorizations(at)
    for payment_id in released:
        typer.echo(payment_id)
    typer.echo(f"released {len(released)} expired authorization(s)", err=True)


@app.command("docs")
def docs(
    write: Path = typer.Option(None, help="Write to this file instead of printing."),
) -> None:
    """Render the payments state machine as Markdown (docs/payments.md)."""
    from commerce.payments.docs import render

    text = render()
    if write is None:
        typer.echo(text, nl=False)
    else:
        write.write_text(text)
