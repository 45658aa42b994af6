"""A small warehouse for metric results: ``fct_experiment_users`` for feature experiments with
known effects over several days, and ``fct_payments`` with refunds (a guardrail)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from shopflow.experiments.config import parse_experiments
from shopflow.experiments.evaluate import Evaluator

CONFIG = """
features:
  - key: checkout-steps
    type: number
    default: 3
    rules:
      - {key: one-page-checkout, variations: [3, 1], variation_keys: [control, one-page]}
  - key: subject
    type: string
    default: a
    rules:
      - {key: email-subject, variations: [a, b], variation_keys: [control, friendly]}
  - key: banner
    type: boolean
    default: false
    rules:
      - {key: aa-banner, variations: [false, true], variation_keys: [control, banner]}
metrics:
  - {key: conversion, name: Conversion, kind: proportion,
     sql: "SELECT experiment_key, user_id, converted AS value FROM main.fct_experiment_users"}
  - {key: revenue_per_user, kind: mean,
     sql: "SELECT experiment_key, user_id, revenue_minor AS value FROM main.fct_experiment_users"}
  - {key: average_order_value, kind: ratio, denominator: orders,
     sql: "SELECT experiment_key, user_id, revenue_minor AS value, orders AS denominator
           FROM main.fct_experiment_users"}
  - {key: refund_rate, kind: mean, guardrail: true, higher_is_better: false,
     sql: "SELECT user_id, count(*) FILTER (WHERE status = 'refunded') AS value
           FROM main.fct_payments GROUP BY user_id"}
"""
#: experiment -> variant -> (order multiplier, refund probability)
EFFECTS: Mapping[str, Mapping[str, tuple[float, float]]] = {
    "one-page-checkout": {"control": (1.0, 0.02), "one-page": (1.5, 0.02)},
    "email-subject": {"control": (1.0, 0.02), "friendly": (1.3, 0.30)},
    "aa-banner": {"control": (1.0, 0.02), "banner": (1.0, 0.02)},
}
START = datetime(2026, 11, 1, tzinfo=UTC)


def build(path: Path, users: int = 6000, days: int = 14, seed: int = 18) -> None:
    rng = np.random.default_rng(seed)
    evaluator = Evaluator(parse_experiments(CONFIG))
    rows, payments = [], []
    for i in range(users):
        user_id = f"m{i}"
        exposed_at = START + timedelta(days=int(rng.integers(days)), hours=int(rng.integers(24)))
        for feature in ("checkout-steps", "subject", "banner"):
            e = evaluator.evaluate(feature, {"id": user_id}).experiment
            assert e is not None
            lift, refund_p = EFFECTS[e.experiment_key][e.variation_key]
            orders = int(rng.poisson(0.3 * lift))
            revenue = int(orders * rng.gamma(4.0, 1250.0))
            rows.append((e.experiment_key, e.variation_key, user_id, exposed_at, 1, 8, 0,
                         int(orders > 0), orders, revenue, 0, 1, "USD"))  # fmt: skip
            for k in range(orders):
                status = "refunded" if rng.random() < refund_p else "succeeded"
                payments.append((f"{e.experiment_key}-{user_id}-{k}", user_id, status))
    columns = ["experiment_key", "variant", "user_id", "first_exposed_at", "variants_seen",
               "impressions", "clicks", "converted", "orders", "revenue_minor",
               "pre_revenue_minor", "n", "currency"]  # fmt: skip
    frame = pd.DataFrame(rows, columns=columns).drop(columns=["n"])
    pays = pd.DataFrame(payments, columns=["payment_id", "user_id", "status"])
    with duckdb.connect(str(path)) as con:
        con.register("f", frame)
        con.register("p", pays)
        con.execute("CREATE OR REPLACE TABLE main.fct_experiment_users AS SELECT * FROM f")
        con.execute("CREATE OR REPLACE TABLE main.fct_payments AS SELECT * FROM p")
