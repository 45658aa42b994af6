"""Authorize now, capture later; release; expiry; several payments per order; the state
machine over HTTP (every illegal command answers 409 naming the status). The embedded test
gateway, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from cli.main import app as cli_app
from commerce.common import transact
from commerce.db import session_scope, utcnow
from commerce.db.models.commerce import Payment, PaymentLedgerEntry
from commerce.payments import disputes
from commerce.payments.ledger import API_ACTIONS, Status, api_allowed
from tests.serving.fakes.commerce import ADMIN, auth, outbox, payment_body, place_order, put_product

ALICE, SHOP = auth("alice"), auth(ADMIN, "admin")


@pytest.fixture
def order(api_client) -> dict:
    put_product(api_client, "p1", price=1250, stock=200)
    return place_order(api_client, "alice", [("p1", 2)])  # 2500


def pay(client, order: dict, *, capture: str = "manual", amount: int | None = None,
        token: str = "pm_card_visa", confirm: bool = True) -> dict:  # fmt: skip
    body = {**payment_body(order, token=token), "capture": capture}
    if amount is not None:
        body["amount_minor"] = amount
    created = client.post("/api/payments", json=body, headers=ALICE)
    assert created.status_code == 201, created.text
    if not confirm:
        return created.json()
    pid = created.json()["id"]
    confirmed = client.post(f"/api/payments/{pid}/confirm", headers=ALICE)
    assert confirmed.status_code in (200, 402), confirmed.text
    return client.get(f"/api/payments/{pid}", headers=ALICE).json()


def ledger_size() -> int:
    with session_scope() as session:
        return session.query(PaymentLedgerEntry).count()


def order_status(client, order: dict) -> str:
    return client.get(f"/api/orders/{order['id']}", headers=ALICE).json()["status"]


def test_authorize_then_partial_capture_and_split_tender(api_client, order) -> None:
    held = pay(api_client, order, amount=1500)
    assert held["status"] == "AUTHORIZED" and held["authorized_minor"] == 1500
    assert held["capture"] == "manual" and held["authorization_expires_at"]
    assert held["gateway"] == "test" and held["captured_minor"] == 0
    assert order_status(api_client, order) == "PLACED"
    url = f"/api/payments/{held['id']}/capture"
    assert api_client.post(url, json={}, headers=ALICE).status_code == 403  # the shop captures
    part = api_client.post(url, json={"amount_minor": 1200}, headers=SHOP)
    assert part.status_code == 200, part.text
    assert (part.json()["status"], part.json()["captured_minor"]) == ("COMPLETED", 1200)
    # the released 300 and the remaining 1000 are paid by a second payment, another method
    assert order_status(api_client, order) == "PLACED"
    over = api_client.post(
        "/api/payments", json={**payment_body(order), "amount_minor": 1301}, headers=ALICE
    )
    assert over.status_code == 422 and over.json()["outstanding_minor"] == 1300
    rest = pay(api_client, order, capture="automatic", amount=1300, token="pm_card_mastercard")
    assert rest["status"] == "COMPLETED" and rest["gateway"] == "test"
    assert order_status(api_client, order) == "PAID"
    assert [e["event_type"] for e in outbox() if e["event_type"].startswith("payment.")] == [
        "payment.created", "payment.processing", "payment.authorized", "payment.captured",
        "payment.created", "payment.processing", "payment.completed",
    ]  # fmt: skip
    assert outbox("payment.captured")[0]["payload"]["captured_minor"] == 1200
    # refunds name the payment; more than that payment captured is refused, nothing changes
    before = ledger_size()
    too_much = api_client.post(
        f"/api/payments/{rest['id']}/refund", json={"amount_minor": 1301}, headers=SHOP
    )
    assert too_much.status_code == 422 and too_much.json()["refundable_minor"] == 1300
    assert too_much.json()["payment_id"] == rest["id"] and ledger_size() == before
    for p, amount in ((held, 1200), (rest, 1300)):
        done = api_client.post(
            f"/api/payments/{p['id']}/refund", json={"amount_minor": amount}, headers=SHOP
        )
        assert done.json()["status"] == "REFUNDED"
    assert order_status(api_client, order) == "REFUNDED"
    refunded = outbox("payment.refunded")
    assert [(e["payload"]["refund_minor"], e["payload"]["refunded_minor"]) for e in refunded] == [
        (1200, 1200), (1300, 1300),
    ]  # fmt: skip


def test_failed_payment_then_another_method(api_client, order) -> None:
    declined = api_client.post(
        "/api/payments", json=payment_body(order, token="pm_card_chargeDeclined"), headers=ALICE
    ).json()
    assert (
        api_client.post(f"/api/payments/{declined['id']}/confirm", headers=ALICE).status_code == 402
    )
    body = {**payment_body(order, token="pm_bank_transfer"), "method": "BANK_TRANSFER"}
    second = api_client.post("/api/payments", json=body, headers=ALICE).json()
    done = api_client.post(f"/api/payments/{second['id']}/confirm", headers=ALICE).json()
    assert done["status"] == "COMPLETED" and order_status(api_client, order) == "PAID"
    listed = api_client.get(f"/api/payments/order/{order['id']}", headers=ALICE).json()
    assert {p["status"] for p in listed["items"]} == {"FAILED", "COMPLETED"}


def test_capture_bad_input_changes_nothing(api_client, order) -> None:
    held = pay(api_client, order)
    url = f"/api/payments/{held['id']}/capture"
    before = ledger_size()
    over = api_client.post(url, json={"amount_minor": 2501}, headers=SHOP)
    assert over.status_code == 422 and over.json()["authorized_minor"] == 2500
    for bad in ({"amount_minor": 0}, {"amount_minor": "12"}, {"amount_minor": 1.5}):
        resp = api_client.post(url, json=bad, headers=SHOP)
        assert resp.status_code == 422, bad
        assert resp.headers["content-type"].startswith("application/problem+json")
    with session_scope() as session:  # the hold lapsed: capture refused, still AUTHORIZED
        session.get(Payment, held["id"]).authorization_expires_at = utcnow() - timedelta(seconds=1)
    late = api_client.post(url, json={}, headers=SHOP)
    assert late.status_code == 409 and late.json()["current_status"] == "AUTHORIZED"
    assert "expired" in late.json()["detail"] and ledger_size() == before
    got = api_client.get(f"/api/payments/{held['id']}", headers=ALICE).json()
    assert got["status"] == "AUTHORIZED" and got["captured_minor"] == 0


def test_release_and_expiry_job(api_client, order) -> None:
    held = pay(api_client, order)
    released = api_client.post(f"/api/payments/{held['id']}/cancel", headers=ALICE).json()
    assert released["status"] == "CANCELLED"
    second = pay(api_client, order)  # the order is free again
    runner = CliRunner()
    now = runner.invoke(cli_app, ["payments", "expire-authorizations"])
    assert now.exit_code == 0 and second["id"] not in now.stdout  # not due yet
    later = (utcnow() + timedelta(days=7, seconds=1)).isoformat()
    due = runner.invoke(cli_app, ["payments", "expire-authorizations", "--now", later])
    assert due.exit_code == 0 and second["id"] in due.stdout, due.output
    got = api_client.get(f"/api/payments/{second['id']}", headers=ALICE).json()
    assert got["status"] == "EXPIRED"
    assert [e["payload"]["payment_id"] for e in outbox("payment.released")] == [
        held["id"], second["id"],
    ]  # fmt: skip
    capture = api_client.post(f"/api/payments/{second['id']}/capture", json={}, headers=SHOP)
    assert capture.status_code == 409 and capture.json()["current_status"] == "EXPIRED"
    bad = runner.invoke(cli_app, ["payments", "expire-authorizations", "--now", "tomorrow"])
    assert bad.exit_code == 2 and "ISO-8601" in bad.output


def _in_status(client, status: Status) -> str:
    """A fresh order's payment brought to ``status`` (disputes through the webhooks' code)."""
    order = place_order(client, "alice", [("p1", 1)])
    manual = status in (Status.AUTHORIZED, Status.EXPIRED)
    token = {Status.PROCESSING: "pm_card_authenticationRequired",
             Status.FAILED: "pm_card_chargeDeclined"}.get(status, "pm_card_visa")  # fmt: skip
    p = pay(client, order, capture="manual" if manual else "automatic", token=token,
            confirm=status not in (Status.PENDING, Status.CANCELLED))  # fmt: skip
    pid = p["id"]
    if status is Status.CANCELLED:
        client.post(f"/api/payments/{pid}/cancel", headers=ALICE)
    if status is Status.EXPIRED:
        CliRunner().invoke(cli_app, ["payments", "expire-authorizations", "--now",
                                     (utcnow() + timedelta(days=8)).isoformat()])  # fmt: skip
    if status in (Status.REFUNDED, Status.PARTIALLY_REFUNDED):
        amount = 1250 if status is Status.REFUNDED else 50
        client.post(f"/api/payments/{pid}/refund", json={"amount_minor": amount}, headers=SHOP)
    if status in (Status.DISPUTED, Status.CHARGED_BACK):

        def dispute(session) -> None:
            payment = session.get(Payment, pid)
            disputes.opened(session, payment, 1250, "dp_1")
            if status is Status.CHARGED_BACK:
                disputes.closed(session, payment, won=False, amount=1250, fee=1500, ref="dp_1")

        transact(dispute)
    got = client.get(f"/api/payments/{pid}", headers=ALICE).json()
    assert got["status"] == status.value, got
    return pid


def test_every_illegal_command_answers_409_naming_the_status(api_client) -> None:
    put_product(api_client, "p1", price=1250, stock=200)
    checked = 0
    for status in Status:
        pid = _in_status(api_client, status)
        for action in API_ACTIONS:
            if status in api_allowed(action):
                continue
            before = ledger_size()
            headers = SHOP if action in ("capture", "refund") else ALICE
            resp = api_client.post(f"/api/payments/{pid}/{action}", json={}, headers=headers)
            assert resp.status_code == 409, (status, action, resp.text)
            assert resp.json()["current_status"] == status.value, (status, action)
            assert status.value in resp.json()["detail"]
            assert ledger_size() == before
            checked += 1
    assert checked == sum(len(Status) - len(api_allowed(a)) for a in API_ACTIONS)


def test_authenticate_link_with_any_text_is_a_404(api_client) -> None:
    for token in ("é" * 8, "0" * 32, ""):
        resp = api_client.get("/api/payments/pay_x/authenticate", params={"token": token})
        assert resp.status_code == 404, token
        assert resp.headers["content-type"].startswith("application/problem+json")


def test_3ds_tokens_never_read_as_card_numbers(shopflow_home) -> None:
    """The 3-D Secure form posts its signed token back, and the card-data guard scans form
    fields: a token holds no digits, so no payment's page is refused as card data. Links
    issued in the older hex form still verify."""
    from commerce.payments import authentication
    from commerce.payments.gateways.card_data import find_card_data

    ids = [f"pay_{n:032x}" for n in range(3000)]
    tokens = [authentication.url(pid).split("?token=")[1] for pid in ids]
    assert not any(ch.isdigit() for token in tokens for ch in token)
    assert all(authentication.verify(pid, token) for pid, token in zip(ids, tokens, strict=True))
    hex_tokens = [authentication._hex_token(pid) for pid in ids]
    assert any(find_card_data({"token": token}) for token in hex_tokens)  # the old failure
    assert all(authentication.verify(pid, t) for pid, t in zip(ids, hex_tokens, strict=True))
    assert not authentication.verify(ids[0], tokens[1])


def test_a_create_raced_by_another_capture_is_refused_for_what_is_left(
    api_client, order, monkeypatch
) -> None:
    """Another payment captures part of the order while this one's gateway call runs: the
    claim checks what is left, so the create answers 422 and claims nothing."""
    from commerce.payments import gateways

    test_gateway = gateways._TEST
    real_create = test_gateway.create

    def create_while_another_captures(**kwargs):
        result = real_create(**kwargs)
        now = utcnow()
        with session_scope() as session:
            session.add(Payment(
                id="pay_meanwhile", order_id=order["id"], user_id="alice", amount_minor=1000,
                currency="USD", method="CREDIT_CARD", gateway="test", status="COMPLETED",
                version=3, captured_minor=1000, created_at=now, updated_at=now,
            ))  # fmt: skip
        return result

    with monkeypatch.context() as patched:
        patched.setattr(test_gateway, "create", create_while_another_captures)
        raced = api_client.post("/api/payments", json=payment_body(order), headers=ALICE)
    assert raced.status_code == 422, raced.text
    assert raced.json()["outstanding_minor"] == 1500
    with session_scope() as session:
        assert [p.id for p in session.query(Payment).filter_by(order_id=order["id"])] == [
            "pay_meanwhile"
        ]
    rest = pay(api_client, order, capture="automatic", amount=1500)
    assert rest["status"] == "COMPLETED" and order_status(api_client, order) == "PAID"


def test_a_second_payment_while_one_runs_is_refused_naming_it(api_client, order) -> None:
    running = pay(api_client, order, capture="automatic", amount=1000, confirm=False)
    second = api_client.post(
        "/api/payments", json={**payment_body(order), "amount_minor": 1000}, headers=ALICE
    )
    assert second.status_code == 409, second.text
    assert second.json()["payment_id"] == running["id"]
    assert second.json()["current_status"] == "PLACED"
