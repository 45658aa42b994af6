"""Orders and payments of one day's purchases, and the catalog's price and stock changes.

Each order: ``order_placed`` -> ``payment.created`` -> ``payment.completed`` (~95 %, then
``order_paid``) or ``payment.failed`` (~5 %, then ``order_cancelled``); ~4 % of paid orders
get a ``payment.refunded`` 1-21 days later (60 % full, then ``order_refunded``; the rest
partial, where the order stays paid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from shopflow import events
from shopflow.synth.behaviour import Checkout
from shopflow.synth.emit import DayEvents
from shopflow.synth.world import World, uniform_us

METHODS = tuple(m.value for m in events.PaymentMethod)
METHOD_WEIGHTS = {"STRIPE": 0.25, "PAYPAL": 0.2, "CREDIT_CARD": 0.4, "DEBIT_CARD": 0.1}
FAILURE_REASONS = (
    "card_declined",
    "insufficient_funds",
    "expired_card",
    "processing_error",
    "fraud_suspected",
)
FAILURE_RATE = 0.05
REFUND_RATE = 0.04
GATEWAY = "synthetic"


@dataclass
class Paid:
    """Order lines whose payment completed and was not fully refunded (review candidates)."""

    user: np.ndarray
    item: np.ndarray
    at_us: np.ndarray  # order time


def place_orders(world: World, day: int, out: DayEvents, checkout: Checkout) -> Paid:
    rng = world.rng(day, 2)
    catalog = world.catalog
    n = len(checkout.session)
    order_ids = out.ids("o", n, 7)
    payment_ids = out.ids("p", n, 7)
    at, user = checkout.at_us, checkout.user
    counts = np.bincount(checkout.line_order, minlength=n)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    lines = pa.StructArray.from_arrays(
        [
            catalog.item_ids.take(pa.array(checkout.line_item)),
            pa.array(checkout.line_quantity),
            pa.array(checkout.line_price),
        ],
        names=["item_id", "quantity", "unit_price_minor"],
    )
    total = np.bincount(
        checkout.line_order, weights=checkout.line_quantity * checkout.line_price, minlength=n
    ).astype(np.int64)
    out.add(
        "order_placed",
        at,
        user,
        checkout.session_ids,
        order_id=order_ids,
        lines=pa.ListArray.from_arrays(pa.array(offsets), lines),
        total_minor=total,
        currency="USD",
    )

    p = np.array([METHOD_WEIGHTS.get(m, 0.05) for m in METHODS])
    method_i = rng.choice(len(METHODS), size=n, p=p / p.sum())
    method = pa.array(METHODS).take(pa.array(method_i))
    created = at + 1_000_000
    slow = np.array(METHODS)[method_i] == "BANK_TRANSFER"
    settled = created + np.where(
        slow, uniform_us(rng, 3600, 6 * 3600, n), uniform_us(rng, 2, 20, n)
    )
    failed = rng.random(n) < FAILURE_RATE

    def payment(
        event_type: str, idx: np.ndarray, when: np.ndarray, status: object, **extra: Any
    ) -> None:
        extra = {"refund_minor": 0, **extra}  # a refund's own amount: refunds only
        sel = pa.array(idx)
        out.add(
            event_type,
            when,
            user[idx],
            None,
            payment_id=payment_ids.take(sel),
            order_id=order_ids.take(sel),
            amount_minor=total[idx],
            currency="USD",
            method=method.take(sel),
            gateway=GATEWAY,
            status=status,
            **extra,
        )

    def order_status(event_type: str, idx: np.ndarray, when: np.ndarray) -> None:
        out.add(
            event_type,
            when,
            user[idx],
            None,
            order_id=order_ids.take(pa.array(idx)),
            total_minor=total[idx],
            currency="USD",
        )

    every = np.arange(n)
    payment("payment.created", every, created, "pending", refunded_minor=0)
    ok, ko = np.flatnonzero(~failed), np.flatnonzero(failed)
    payment("payment.completed", ok, settled[ok], "completed", refunded_minor=0)
    order_status("order_paid", ok, settled[ok] + 1_000_000)
    reasons = pa.array(FAILURE_REASONS).take(pa.array(rng.integers(0, 5, len(ko))))
    payment("payment.failed", ko, settled[ko], "failed", failure_reason=reasons, refunded_minor=0)
    order_status("order_cancelled", ko, settled[ko] + 1_000_000)

    when = settled + uniform_us(rng, 86400, 21 * 86400, n)
    refund = np.flatnonzero(~failed & (rng.random(n) < REFUND_RATE) & (when < world.end_us))
    full = rng.random(len(refund)) < 0.6
    part = np.maximum(1, (total[refund] * rng.uniform(0.1, 0.7, len(refund))).astype(np.int64))
    refunded = np.where(full, total[refund], np.minimum(part, total[refund]))
    status = pa.array(np.where(full, "refunded", "partially_refunded"))
    payment(
        "payment.refunded",
        refund,
        when[refund],
        status,
        refunded_minor=refunded,
        refund_minor=refunded,  # one refund per payment: this refund is the total
    )
    order_status("order_refunded", refund[full], when[refund[full]] + 1_000_000)

    keep = np.ones(n, dtype=bool)
    keep[failed] = False
    keep[refund[full]] = False
    line_keep = keep[checkout.line_order]
    return Paid(
        user=user[checkout.line_order[line_keep]],
        item=checkout.line_item[line_keep],
        at_us=at[checkout.line_order[line_keep]],
    )


def change_catalog(world: World, day: int, out: DayEvents) -> None:
    """A few price changes and restocks / sell-outs at the start of each day after the first;
    the day's sessions see the new values."""
    if day == 0:
        return
    rng = world.rng(day, 3)
    catalog = world.catalog
    n = catalog.size
    start = world.day_start_us(day)
    changed = np.flatnonzero(rng.random(n) < 0.004)
    old = catalog.price_minor[changed].copy()
    factor = rng.uniform(0.7, 1.2, len(changed))
    new = (np.floor(old / 100 * factor) * 100 + 99).astype(np.int64)
    moved = new != old
    changed, old, new = changed[moved], old[moved], new[moved]
    catalog.price_minor[changed] = new
    out.add(
        "product.price_changed",
        start + uniform_us(rng, 0, 60, len(changed)),
        None,
        None,
        item_id=catalog.item_ids.take(pa.array(changed)),
        old_price_minor=old,
        new_price_minor=new,
        currency="USD",
    )

    old_stock = catalog.stock.copy()
    r = rng.random(n)
    restock = (old_stock == 0) & (r < 0.25)
    sell_out = (old_stock > 0) & (r < 0.003)
    adjust = (old_stock > 0) & (r > 0.997)
    fresh = rng.negative_binomial(2, 0.04, n) + 1
    new_stock = np.where(restock | adjust, fresh, np.where(sell_out, 0, old_stock))
    idx = np.flatnonzero(new_stock != old_stock)
    catalog.stock[idx] = new_stock[idx]
    out.add(
        "product.stock_changed",
        start + uniform_us(rng, 0, 60, len(idx)),
        None,
        None,
        item_id=catalog.item_ids.take(pa.array(idx)),
        old_stock=old_stock[idx],
        new_stock=new_stock[idx],
    )
