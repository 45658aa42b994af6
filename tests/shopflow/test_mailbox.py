"""The mail catcher lists messages in the order it received them, to the microsecond: two
messages in one second keep their order whatever their Maildir names."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from shopflow.mailbox import KeepMail, read_mail


def _keep(box: KeepMail, to: str) -> str:
    envelope = SimpleNamespace(
        rcpt_tos=[to], content=f"To: {to}\r\nSubject: for {to}\r\n\r\nhi\r\n".encode(),
        original_content=None,
    )  # fmt: skip
    return asyncio.run(box.handle_DATA(None, None, envelope))


def test_messages_received_in_one_second_are_listed_in_order(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    box = KeepMail(folder)
    for n in range(20):
        assert _keep(box, f"user{n}@example.com").startswith("250")
    # Maildir names order nothing: give the later messages the names that sort first
    for path in (folder / "new").iterdir():
        n = int(path.read_text().split("To: user", 1)[1].split("@", 1)[0])
        path.rename(folder / "cur" / f"{99 - n:03d}.shopflow")
    assert [mail.to for mail in read_mail(folder)] == [f"user{n}@example.com" for n in range(20)]
