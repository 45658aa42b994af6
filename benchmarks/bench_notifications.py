"""Notifications rendered and delivered per second (events -> workflow -> preferences ->
template render -> SMTP send -> delivery record + outbox event, on SQLite; the consumer's
path: one trigger transaction per poll of ``BATCH`` events, then batched delivery) against a
bare smtplib loop sending the same number of prebuilt messages over one connection, both to
the same local aiosmtpd server (in a thread of this process). Three interleaved rounds of
each; the best of each is compared."""

from __future__ import annotations

import os
import smtplib
import tempfile
import time
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from shopflow import events
from shopflow.config import get_settings
from shopflow.embedded import free_port

N = int(os.environ.get("BENCH_NOTIFY_N", "800"))
BATCH = 200  # events per consumer poll
ROUNDS = 3


class _Count:
    def __init__(self) -> None:
        self.n = 0

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.n += 1
        return "250 OK"


def _bare(port: int, n: int) -> float:
    msgs = []
    for i in range(n):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "shop@example.com", f"u{i}@example.com", "Hi"
        msg.set_content(f"Thanks for your order o{i} ($49.99).")
        msg.add_alternative(f"<p>Thanks for your order o{i} ($49.99).</p>", subtype="html")
        msgs.append(msg)
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as conn:
        for msg in msgs:
            conn.send_message(msg)
    return n / (time.perf_counter() - t0)


def _order(i: int) -> events.Envelope:
    line = {"item_id": f"sku-{i}", "quantity": 1, "unit_price_minor": 4999}
    payload = {"order_id": f"o{i}", "lines": [line], "total_minor": 4999, "currency": "USD"}
    return events.make_event("order_placed", payload, user_id=f"u{i}")


def _pipeline(first: int, n: int) -> float:
    """Users ``first`` .. ``first + n - 1``: each gets one order confirmation email."""
    from commerce.db import session_scope
    from commerce.notifications import delivery, preferences, service, templates
    from commerce.notifications.channels.email_smtp import SmtpEmail

    only_email = {"email": True, "push": False, "in_app": False}
    with session_scope() as session:
        for i in range(first, first + n):
            prefs = preferences.Preferences(email=f"u{i}@example.com", channels=only_email)
            preferences.save(session, f"u{i}", prefs)
    templates.ensure_seeded()
    settings = get_settings()
    email = SmtpEmail(settings.smtp_host, settings.smtp_port, settings.notify_email_from)
    orders = [_order(i) for i in range(first, first + n)]
    t0 = time.perf_counter()
    for start in range(0, n, BATCH):
        triggered = service.handle_events(orders[start : start + BATCH])
        done = delivery.deliver_many([i for t in triggered for i in t.due_now], {"email": email})
        assert set(done.values()) == {"sent"} and len(done) == len(triggered), done
    elapsed = time.perf_counter() - t0
    email.close()
    return n / elapsed


def main() -> None:
    counter = _Count()
    port = free_port()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    bare, ours = [], []
    try:
        with tempfile.TemporaryDirectory() as home:
            os.environ["SHOPFLOW_HOME"] = home
            os.environ["SHOPFLOW_SMTP_PORT"] = str(port)
            os.environ.pop("DATABASE_URL", None)
            get_settings.cache_clear()
            from commerce.db import migrate, reset_engines

            reset_engines()
            migrate.upgrade()
            for r in range(ROUNDS):  # interleaved, best of each: the machine is shared
                bare.append(_bare(port, N))
                ours.append(_pipeline(r * N, N))
            reset_engines()
    finally:
        controller.stop()
        os.environ.pop("SHOPFLOW_SMTP_PORT", None)
        get_settings.cache_clear()
    assert counter.n == 2 * ROUNDS * N, counter.n
    best_bare, best_ours = max(bare), max(ours)
    print(f"bare smtplib loop:      {best_bare:8.0f} messages/s ({N} messages, best of {ROUNDS})")
    print(f"notifications (SQLite): {best_ours:8.0f} messages/s ({N} events -> emails)")
    print(f"notifications / baseline: {best_ours / best_bare:8.3f}")


if __name__ == "__main__":
    main()
