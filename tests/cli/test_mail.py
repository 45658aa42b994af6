"""The embedded mail catcher keeps what it receives over SMTP; ``shopflow mail list/show``
read it back; an unknown message is a clear error."""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage

from typer.testing import CliRunner

from cli.main import app
from shopflow import embedded
from shopflow.config import Settings


def _send(port: int, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "shop@example.com", to, subject
    message.set_content(body)
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(message)


def test_mail_sent_to_the_catcher_is_listed_and_shown(shopflow_home: Settings) -> None:
    cli = CliRunner()
    assert "no mail yet" in cli.invoke(app, ["mail", "list"]).output
    url = embedded.ensure("mail", shopflow_home)
    port = int(url.rsplit(":", 1)[1])
    _send(port, "ann@example.com", "Order o-1 confirmed", "Thanks for order o-1.")
    _send(port, "bob@example.com", "1 price drop on your wishlist", "- sku-1: $10.00 -> $5.00")

    listed = cli.invoke(app, ["mail", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [(r["n"], r["to"], r["subject"]) for r in rows] == [
        (1, "ann@example.com", "Order o-1 confirmed"),
        (2, "bob@example.com", "1 price drop on your wishlist"),
    ]
    shown = cli.invoke(app, ["mail", "show", "2"])
    assert shown.exit_code == 0 and "sku-1: $10.00 -> $5.00" in shown.output
    assert "Thanks for order o-1." in cli.invoke(app, ["mail", "show", rows[0]["key"]]).output

    missing = cli.invoke(app, ["mail", "show", "9"])
    assert missing.exit_code == 2 and "no message '9' (2 kept)" in missing.output
    assert embedded.stop("mail", shopflow_home)
    assert embedded.status(shopflow_home)["mail"] is None
