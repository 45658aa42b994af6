"""``shopflow mail``: what the embedded mail catcher received (``shopflow services up`` or
``shopflow demo`` starts it). Read only: listing mail starts nothing."""

from __future__ import annotations

import json
import sys

import typer

NAME = "mail"
app = typer.Typer(help="Mail kept by the embedded SMTP catcher (nothing is delivered onwards).")


@app.command("list")
def list_mail(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per message."),
) -> None:
    """Every message received, oldest first, numbered for `shopflow mail show`."""
    from rich.console import Console
    from rich.table import Table

    from shopflow.mailbox import mail_dir, read_mail

    folder = mail_dir()
    found = read_mail(folder)
    if as_json:
        for n, mail in enumerate(found, 1):
            row = {"n": n, "key": mail.key, "date": mail.date.isoformat() if mail.date else None,
                   "from": mail.sender, "to": mail.to, "subject": mail.subject}  # fmt: skip
            typer.echo(json.dumps(row))
        return
    console = Console(width=None if sys.stdout.isatty() else 160)  # piped: whole lines
    if not found:
        console.print(f"no mail yet in {folder}")
        return
    table = Table("#", "date", "to", "subject")
    for n, mail in enumerate(found, 1):
        date = f"{mail.date:%Y-%m-%d %H:%M:%S}" if mail.date else "-"
        table.add_row(str(n), date, mail.to, mail.subject)
    console.print(table)


@app.command("show")
def show(
    which: str = typer.Argument(..., help="A number from `shopflow mail list`, or a key."),
) -> None:
    """One message: its headers and text."""
    from shopflow.mailbox import mail_dir, read_mail

    found = read_mail(mail_dir())
    by_number = {str(n): m for n, m in enumerate(found, 1)}
    mail = by_number.get(which) or next((m for m in found if m.key == which), None)
    if mail is None:
        typer.echo(f"error: no message {which!r} ({len(found)} kept)", err=True)
        raise typer.Exit(2)
    typer.echo(f"Received: {mail.date.isoformat() if mail.date else '-'}")
    for header in ("From", "To", "Subject"):
        typer.echo(f"{header}: {mail.message[header] or ''}")
    typer.echo("")
    typer.echo(mail.text())
