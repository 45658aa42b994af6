"""Revenue marts subtract lost disputes; the reconciliation marts compare the ledger's events
with what the processors' webhooks reported, per day and gateway, and list every difference
(the no_rows check warns). Real dbt on DuckDB over landed events."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import pytest

from shopflow import events, landing
from shopflow.config import Settings
from tests.warehouse import analytics_data as shop
from tests.warehouse.analytics_data import D1, ev

MODELS = "+mart_payment_reconciliation +mart_payment_differences +daily_revenue"
M = timedelta(minutes=1)


def _pay(kind: str, pay: str, order: str, at, gateway: str = "stripe", **extra: Any):
    return ev(f"payment.{kind}", at, "u1", None, payment_id=pay, order_id=order,
              amount_minor=2000, currency="USD", method="STRIPE", gateway=gateway,
              status=extra.pop("status", kind.upper()), **extra)  # fmt: skip


def _report(pay: str, order: str, at, kind: str, amount: int, cumulative: bool = True,
            gateway: str = "stripe"):  # fmt: skip
    payload = {
        "payment_id": pay,
        "order_id": order,
        "gateway": gateway,
        "kind": kind,
        "amount_minor": amount,
        "currency": "USD",
        "cumulative": cumulative,
        "gateway_event_id": f"evt-{pay}-{kind}-{amount}",
        "gateway_event_type": kind,
    }
    return events.make_event("payment.gateway_reported", payload, occurred_at=at,
                             user_id="u1")  # fmt: skip


def _events() -> list:
    order = {"lines": [{"item_id": "i1", "quantity": 1, "unit_price_minor": 2000}],
             "total_minor": 2000, "currency": "USD"}  # fmt: skip
    out = [ev("order_placed", D1, "u1", "s1", order_id=f"o{n}", **order) for n in (1, 2, 3)]
    # p1: captured and charged back; the processor agrees
    out += [_pay("created", "p1", "o1", D1 + M), _pay("completed", "p1", "o1", D1 + 2 * M,
            captured_minor=2000), _report("p1", "o1", D1 + 2 * M, "captured", 2000),
            _pay("dispute_closed", "p1", "o1", D1 + 3 * M, status="CHARGED_BACK",
                 disputed_minor=2000),
            _report("p1", "o1", D1 + 3 * M, "dispute_lost", 2000)]  # fmt: skip
    # p2 (PayPal): captured 2000, refunded 500 + 300 (each refund its own amount); the
    # processor never reported the second refund
    out += [_pay("created", "p2", "o2", D1 + M, gateway="paypal"),
            _pay("completed", "p2", "o2", D1 + 2 * M, gateway="paypal", captured_minor=2000),
            _report("p2", "o2", D1 + 2 * M, "captured", 2000, False, "paypal"),
            _pay("refunded", "p2", "o2", D1 + 4 * M, gateway="paypal", refunded_minor=500,
                 refund_minor=500),
            _report("p2", "o2", D1 + 4 * M, "refunded", 500, False, "paypal"),
            _pay("refunded", "p2", "o2", D1 + 5 * M, gateway="paypal", refunded_minor=800,
                 refund_minor=300)]  # fmt: skip
    # p3: manual capture of 1500; on the test gateway (no processor: not reconciled)
    out += [
        _pay("created", "p3", "o3", D1 + M, gateway="test"),
        _pay("authorized", "p3", "o3", D1 + 2 * M, gateway="test", authorized_minor=2000),
        _pay("captured", "p3", "o3", D1 + 3 * M, gateway="test", captured_minor=1500),
    ]
    return out  # fmt: skip


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(home=tmp_path_factory.mktemp("payment-marts"))
    settings.ensure_dirs()
    landing.write_events(_events(), settings)
    shop.load(settings)
    shop.dbt(settings, "run", "--select", *MODELS.split())
    return settings


def rows(settings: Settings, sql: str) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_revenue_subtracts_lost_disputes(built) -> None:
    got = rows(built, "select revenue_date, gross_minor, refunds_minor, chargebacks_minor, "
                      "net_minor from daily_revenue")  # fmt: skip
    assert got == [(date(2024, 3, 4), 6000, 800, 2000, 3200)]
    fct = rows(built, "select payment_id, status, charged_back_minor from fct_payments "
                      "order by 1")  # fmt: skip
    assert fct == [("p1", "dispute_closed", 2000), ("p2", "refunded", 0), ("p3", "captured", 0)]


def test_reconciliation_per_day_and_gateway_lists_every_difference(built) -> None:
    recon = rows(built, "select gateway, payments, ledger_captured_minor, gateway_captured_minor,"
                        " ledger_refunded_minor, gateway_refunded_minor, ledger_charged_back_minor,"
                        " gateway_charged_back_minor, payments_with_differences "
                        "from mart_payment_reconciliation order by 1")  # fmt: skip
    assert recon == [("paypal", 1, 2000, 2000, 800, 500, 0, 0, 1),
                     ("stripe", 1, 2000, 2000, 0, 0, 2000, 2000, 0)]  # fmt: skip
    diffs = rows(
        built,
        "select payment_date, gateway, payment_id, measure, ledger_minor, "
        "gateway_minor, difference_minor from mart_payment_differences",
    )
    assert diffs == [(date(2024, 3, 4), "paypal", "p2", "refunded", 800, 500, 300)]


def test_the_differences_check_warns(built) -> None:
    done = shop.dbt(built, "test", "--select", "mart_payment_differences")
    assert "WARN 1" in done.stdout and "no_rows" in done.stdout
