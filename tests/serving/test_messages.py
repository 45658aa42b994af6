"""The words in messages: a refund email states that refund's amount (and the total so far);
wishlist alerts name the product by its title. Real API, database and SMTP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from commerce.db import session_scope
from commerce.notifications import delivery, service, templates
from commerce.wishlists.alerts import handle_catalog_event
from shopflow import events
from tests.serving.fakes.commerce import ADMIN, auth, outbox, payment_body, place_order, put_product
from tests.serving.fakes.notifications import (  # noqa: F401  (fixtures)
    channels,
    notify_settings,
    set_prefs,
    smtp,
)
from tests.serving.fakes.smtp_server import body_html, body_text


def notify(envelope: dict, channels) -> None:  # noqa: ANN001, F811
    now = datetime.now(UTC)
    for triggered in service.handle_event(events.parse_event(envelope), now=now):
        delivery.deliver_many(triggered.due_now, channels, now)


def test_second_partial_refund_email_states_its_own_amount(smtp, channels, api_client) -> None:  # noqa: F811
    put_product(api_client, "p1", price=1250, stock=50)
    order = place_order(api_client, "ada", [("p1", 2)])  # $25.00
    ada, admin = auth("ada"), auth(ADMIN, "admin")
    pay = api_client.post("/api/payments", json=payment_body(order), headers=ada).json()
    api_client.post(f"/api/payments/{pay['id']}/confirm", headers=ada)
    for amount in (1000, 1500):
        refund = api_client.post(
            f"/api/payments/{pay['id']}/refund", json={"amount_minor": amount}, headers=admin
        )
        assert refund.status_code == 200, refund.text

    refunds = outbox("payment.refunded")
    assert [(r["payload"]["refund_minor"], r["payload"]["refunded_minor"]) for r in refunds] == [
        (1000, 1000),
        (1500, 2500),
    ]
    assert {r["payload"]["amount_minor"] for r in refunds} == {2500}  # the payment's amount

    set_prefs("ada", email="ada@example.com")
    for envelope in refunds:
        notify(envelope, channels)
    first, second = smtp.inbox.messages
    assert "Refund of $10.00" in first["Subject"]
    assert "We refunded $10.00 of your $25.00 payment" in body_text(first)
    assert "so far" not in body_text(first)  # the first refund is the total
    assert "Refund of $15.00" in second["Subject"]
    assert "We refunded $15.00 of your $25.00 payment" in body_text(second)
    assert "Refunded so far: $25.00." in body_text(second)
    assert "<strong>$15.00</strong>" in body_html(second)


def test_wishlist_alerts_name_the_product_by_title(smtp, channels, api_client) -> None:  # noqa: F811
    put_product(api_client, "i000011", price=4000, stock=0, title="Blue Kettle")
    created = api_client.post("/api/wishlists", json={"name": "Kitchen"}, headers=auth("u1"))
    wid = created.json()["id"]
    added = api_client.post(
        f"/api/wishlists/{wid}/items", json={"product_id": "i000011"}, headers=auth("u1")
    )
    assert added.status_code == 201, added.text
    set_prefs("u1", email="u1@example.com")

    put_product(api_client, "i000011", price=4000, stock=3, title="Blue Kettle")
    put_product(api_client, "i000011", price=3000, stock=3, title="Blue Kettle")  # -25 %
    with session_scope() as session:
        for change in outbox("product.stock_changed") + outbox("product.price_changed"):
            handle_catalog_event(session, events.parse_event(change))

    (back,) = outbox("wishlist.back_in_stock")
    (drop,) = outbox("wishlist.price_drop")
    assert back["payload"]["title"] == drop["payload"]["title"] == "Blue Kettle"
    notify(back, channels)
    (mail,) = smtp.inbox.messages
    assert mail["Subject"] == "Blue Kettle is back in stock"
    assert body_text(mail).startswith("Blue Kettle from your wishlist is back in stock")

    email = templates.defaults()["wishlist_alert"]["email"]  # sent as is when not digested
    context = service.event_context(events.parse_event(drop))
    rendered = templates.render(email["subject"], email["text"], email["html"], context)
    assert rendered.subject == "Price drop on Blue Kettle"
    notify(drop, channels)  # price drops wait in the digest
    later = datetime.now(UTC) + timedelta(days=1)
    (digest,) = service.flush_digests(later)
    delivery.deliver_many(digest.due_now, channels, later)
    assert "Blue Kettle: $40.00 -> $30.00" in body_text(smtp.inbox.messages[1])
    assert "i000011" not in body_text(smtp.inbox.messages[1])
