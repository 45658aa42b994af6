"""The embedded mail catcher: an SMTP server (aiosmtpd) that keeps every message it accepts
in a Maildir under ``$SHOPFLOW_HOME/mail`` and delivers nothing onwards. Started by
``shopflow.embedded`` (``python -m shopflow.mailbox --port N``); read with ``shopflow mail``."""

from __future__ import annotations

import argparse
import email.policy
import mailbox
import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from shopflow.config import Settings, get_settings


def mail_dir(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).home_dir / "mail"


@dataclass(frozen=True)
class StoredMail:
    key: str
    date: datetime | None  # when the catcher received it
    sender: str
    to: str
    subject: str
    message: EmailMessage

    def text(self) -> str:
        """The plain-text body (the HTML part when there is no text part)."""
        part = self.message.get_body(preferencelist=("plain", "html"))
        return "" if part is None else str(part.get_content())


def read_mail(folder: Path) -> list[StoredMail]:
    """Every kept message, oldest first; none when the folder does not exist (read only)."""
    if not (folder / "cur").is_dir():
        return []
    box = mailbox.Maildir(folder, factory=None, create=False)
    found = []
    for key in box.iterkeys():
        message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        found.append(
            StoredMail(
                key=key,
                date=_received(message),
                sender=str(message["From"] or ""),
                to=str(message["To"] or ""),
                subject=str(message["Subject"] or ""),
                message=message,
            )
        )
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(found, key=lambda m: (m.date or oldest, m.key))


def _received(message: EmailMessage) -> datetime | None:
    """When the catcher took ``message``: its own stamp (ISO 8601, to the microsecond, so two
    messages in one second keep their order), else an older RFC 2822 stamp or ``Date``."""
    stamp = message["X-Shopflow-Received"]
    if stamp is not None:
        try:
            return datetime.fromisoformat(str(stamp))
        except ValueError:
            return parsedate_to_datetime(str(stamp))
    return parsedate_to_datetime(str(message["Date"])) if message["Date"] else None


class KeepMail:
    """aiosmtpd handler: each accepted message goes to the Maildir, with its envelope."""

    def __init__(self, folder: Path) -> None:
        self.box = mailbox.Maildir(folder, create=True)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        received = datetime.now(UTC).isoformat()
        header = (
            f"X-Shopflow-Received: {received}\r\n"
            f"X-Shopflow-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        )
        self.box.add(header.encode() + bytes(content))
        return "250 Message accepted for delivery"


def serve(port: int, folder: Path, host: str = "127.0.0.1") -> None:
    """Run until SIGTERM or SIGINT."""
    from aiosmtpd.controller import Controller

    controller = Controller(KeepMail(folder), hostname=host, port=port)
    controller.start()
    try:
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
    finally:
        controller.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})  # for sigwait
    serve(args.port, args.dir)


if __name__ == "__main__":
    main()
