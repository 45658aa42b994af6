"""Email over SMTP (smtplib), multipart text + HTML, one kept-alive connection per channel.

Messages are built with the compat32 MIME classes (a fifth of ``EmailMessage``'s cost);
non-ASCII headers are RFC 2047 encoded, bodies are UTF-8 quoted-printable, and line breaks
in a subject are folded to spaces (no header injection from a template)."""

from __future__ import annotations

import contextlib
import secrets
import smtplib
import ssl
import threading
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, parseaddr

from commerce.notifications.channels.base import ChannelError, OutgoingMessage, SendResult

PERMANENT_CODES = range(500, 600)
UTF8 = Charset("utf-8")
UTF8.body_encoding = QP


def _text(body: str, subtype: str) -> MIMEText:
    """A UTF-8 quoted-printable text part."""
    return MIMEText(body, subtype, UTF8)  # type: ignore[arg-type]  # MIMEText takes a Charset; typeshed says str


def _header(value: str) -> str | Header:
    value = " ".join(value.splitlines())
    return value if value.isascii() else Header(value, "utf-8")


class SmtpEmail:
    name = "email"
    provider = "smtp"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls = username, password, starttls
        self.timeout = timeout
        self._from = formataddr(parseaddr(sender), charset="utf-8")
        self._conn: smtplib.SMTP | None = None
        self._lock = threading.Lock()

    def _connect(self) -> smtplib.SMTP:
        conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.starttls:
            conn.starttls(context=ssl.create_default_context())
        if self.username:
            conn.login(self.username, self.password or "")
        return conn

    def build(self, message: OutgoingMessage) -> MIMEMultipart | MIMEText:
        email: MIMEMultipart | MIMEText = _text(message.text, "plain")
        if message.html:
            email = MIMEMultipart("alternative")
            email.attach(_text(message.text, "plain"))
            email.attach(_text(message.html, "html"))
        email["From"] = self._from
        email["To"] = message.to or ""
        email["Subject"] = _header(message.subject or "")  # type: ignore[assignment]  # a Header is a valid value; typeshed says str
        email["Message-ID"] = f"<{message.delivery_id}.{secrets.token_hex(6)}@shopflow>"
        email["X-Shopflow-Delivery"] = message.delivery_id
        return email

    def send(self, message: OutgoingMessage) -> SendResult:
        with self._lock:
            result = self._send(message)
        if isinstance(result, ChannelError):
            raise result
        return result

    def send_many(self, messages: list[OutgoingMessage]) -> list[SendResult | ChannelError]:
        """Send a batch over the one kept-alive connection (reconnecting once if the server
        dropped it); a refused message is reset (RSET) and the next one goes on."""
        with self._lock:
            return [self._send(message) for message in messages]

    def _send(self, message: OutgoingMessage) -> SendResult | ChannelError:
        if not message.to:
            return ChannelError("no email address", retryable=False)
        email = self.build(message)
        for attempt in (1, 2):  # a kept-alive connection may have been dropped
            try:
                if self._conn is None:
                    self._conn = self._connect()
                self._conn.send_message(email)
                return SendResult(self.provider, email["Message-ID"])
            except smtplib.SMTPServerDisconnected as exc:
                self._conn = None
                if attempt == 2:
                    return ChannelError(f"smtp: {exc}")
            except smtplib.SMTPRecipientsRefused as exc:  # smtplib has sent RSET
                code = next(iter(exc.recipients.values()))[0]
                return ChannelError(f"smtp refused: {exc}", code not in PERMANENT_CODES)
            except smtplib.SMTPResponseException as exc:
                self._reset()
                retry = exc.smtp_code not in PERMANENT_CODES
                return ChannelError(f"smtp {exc.smtp_code}: {exc.smtp_error!r}", retry)
            except (OSError, smtplib.SMTPException) as exc:
                self._drop()
                return ChannelError(f"smtp: {type(exc).__name__}: {exc}")
        raise AssertionError("unreachable")

    def _reset(self) -> None:
        """End a failed mail transaction so the connection serves the next message."""
        try:
            if self._conn is not None:
                self._conn.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(OSError, smtplib.SMTPException):
                    self._conn.quit()
            self._drop()
