"""Analytics marts: incremental rebuild after one new day of 1M events vs a full rebuild.

Builds its own shop in the event schema (vectorised pyarrow columns, 1M events a day:
sessions, views, carts, checkouts, orders, payments, recommendation impressions and clicks,
reviews), loads ``BENCH_MARTS_DAYS`` (default 6) days of ``BENCH_MARTS_HISTORY_EVENTS``
(default 500k) events with the pipeline's raw loader, builds the incremental marts and their
parents, lands one new day of 1M events, then times `dbt run` of the incremental analytics
marts (which redo the new day and the one-day lookback) against the baseline: the same models
with --full-refresh. The whole run takes ~1.5 min on 2 cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from pipelines.raw_load import load_landing
from shopflow import events, landing
from shopflow.config import Settings
from shopflow.synth.columns import event_table, format_ids, labels, timestamps

REPO = Path(__file__).resolve().parents[1]
DBT_DIR = REPO / "warehouse"
HISTORY_DAYS = int(os.environ.get("BENCH_MARTS_DAYS", "6"))
HISTORY_EVENTS_PER_DAY = int(os.environ.get("BENCH_MARTS_HISTORY_EVENTS", "500000"))
EVENTS_PER_DAY = 1_000_000  # the new day
USERS, ITEMS = 200_000, 5_000
START = datetime(2024, 1, 1, tzinfo=UTC)
START_US = int(START.timestamp()) * 1_000_000
DAY_US = 86_400_000_000
SHARE = {  # event mix per day, summing to 1
    "session_start": 0.10, "product_view": 0.55, "add_to_cart": 0.10, "checkout_started": 0.05,
    "order_placed": 0.04, "payment.completed": 0.04, "rec_impression": 0.08, "rec_click": 0.03,
    "review.submitted": 0.01,
}  # fmt: skip
MARTS = "path:models/marts/analytics"
INCREMENTAL = f"{MARTS},config.materialized:incremental"


ID_DIGITS = 7  # per-day counters (< 10M events a day)


def _choice(values: list[str], n: int, rng: np.random.Generator) -> pa.Array:
    return labels(values, rng.integers(0, len(values), n))


def _const(value: object, n: int, type_: pa.DataType = pa.string()) -> pa.Array:
    return pa.repeat(pa.scalar(value, type_), n)


def _list(values: pa.Array, width: int, list_type: pa.DataType) -> pa.Array:
    """``values`` cut into lists of ``width``."""
    offsets = pa.array(np.arange(0, len(values) + 1, width, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values).cast(list_type)


def _table(event_type: str, n: int, day: int, rng: np.random.Generator) -> pa.Table:
    """``n`` events of one type and day in the exact landing schema, every column vectorised;
    only the schema's columns are built."""
    schema = events.arrow_schema(event_type)
    code = list(SHARE).index(event_type)
    seconds = np.sort(rng.integers(0, 86_400, n))
    users = rng.integers(0, USERS, n)
    items = rng.integers(0, ITEMS, n)
    counter = (np.arange(n), ID_DIGITS)
    item_ids = format_ids(n, "i", (items, 5))
    order_ids = format_ids(n, "o", (day, 3), counter)  # payments pay the same day's orders
    qty, price = rng.integers(1, 3, n), rng.integers(500, 5000, n)
    make = {
        "event_id": lambda: format_ids(n, "b", (code, 2), (day, 3), counter),
        "event_type": lambda: _const(event_type, n),
        "schema_version": lambda: _const(events.SCHEMA_VERSION, n, pa.int64()),
        "occurred_at": lambda: timestamps(START_US + day * DAY_US + seconds * 1_000_000),
        "user_id": lambda: format_ids(n, "u", (users, 6)),
        "session_id": lambda: format_ids(n, "s", (day, 3), (users, 6)),
        "item_id": lambda: item_ids,
        "traffic_source": lambda: _choice(["direct", "search", "email", "ads"], n, rng),
        "device": lambda: _choice(["desktop", "mobile"], n, rng),
        "quantity": lambda: qty,
        "unit_price_minor": lambda: price,
        "currency": lambda: _const("USD", n),
        "cart_value_minor": lambda: rng.integers(500, 9000, n),
        "item_count": lambda: rng.integers(1, 4, n),
        "order_id": lambda: order_ids,
        "lines": lambda: _list(
            pa.StructArray.from_arrays(
                [item_ids, pa.array(qty), pa.array(price)],
                names=["item_id", "quantity", "unit_price_minor"],
            ),
            1,
            schema.field("lines").type,
        ),
        "total_minor": lambda: qty * price,
        "payment_id": lambda: format_ids(n, "p", (day, 3), counter),
        "amount_minor": lambda: rng.integers(500, 9000, n),
        "method": lambda: _choice(["STRIPE", "PAYPAL"], n, rng),
        "gateway": lambda: _const("test", n),
        "status": lambda: _const("completed", n),
        "refunded_minor": lambda: np.zeros(n, dtype=np.int64),
        "request_id": lambda: format_ids(n, "r", (day, 3), counter),
        "item_ids": lambda: _list(
            format_ids(3 * n, "i", (rng.integers(0, ITEMS, 3 * n), 5)), 3, pa.list_(pa.string())
        ),
        "model_name": lambda: _const("als", n),
        "model_version": lambda: _choice(["3", "4"], n, rng),
        "placement": lambda: _const("home", n),
        "experiment_key": lambda: _const("recs-strategy-v1", n),
        "variant": lambda: _choice(["control", "als"], n, rng),
        "position": lambda: rng.integers(0, 10, n),
        "review_id": lambda: format_ids(n, "v", (day, 3), counter),
        "rating": lambda: rng.integers(1, 6, n),
        "verified_purchase": lambda: np.zeros(n, dtype=bool),
    }
    arrays = []
    for field in schema:
        value = make[field.name]() if field.name in make else pa.nulls(n, field.type)
        arrays.append(pa.array(value, field.type) if isinstance(value, np.ndarray) else value)
    return pa.Table.from_arrays(arrays, schema=schema)


def land_day(settings: Settings, day: int, n_events: int) -> None:
    rng = np.random.default_rng(day)
    for event_type, share in SHARE.items():
        landing.write_table(event_type, _table(event_type, int(n_events * share), day, rng),
                            settings)  # fmt: skip


def land_catalog(settings: Settings) -> None:
    n, index = ITEMS, np.arange(ITEMS)
    payload = {
        "item_id": format_ids(n, "i", (index, 5)),
        "title": format_ids(n, "Item ", (index, 5)),
        "category": format_ids(n, "c", (index % 20, 2)),
        "price_minor": np.full(n, 1000),
        "currency": "USD",
        "stock": np.full(n, 10),
    }
    ids = format_ids(n, "catalog-", (index, 5))
    table = event_table("product.upserted", ids, np.full(n, START_US - DAY_US), None, None, payload)
    landing.write_table("product.upserted", table, settings)


def load(settings: Settings) -> None:
    with duckdb.connect(str(settings.warehouse_path)) as con:
        load_landing(con, settings.landing_dir)


def dbt(settings: Settings, *args: str) -> tuple[float, float]:
    """Run dbt; (wall seconds, seconds the selected models themselves took)."""
    target = settings.home_dir / "dbt-target"
    env = os.environ | {
        "SHOPFLOW_WAREHOUSE_PATH": str(settings.warehouse_path),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    cmd = [str(Path(sys.executable).parent / "dbt"), *args, "--project-dir", str(DBT_DIR),
           "--profiles-dir", str(DBT_DIR), "--target-path", str(target),
           "--log-path", str(settings.home_dir / "dbt-logs")]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=DBT_DIR, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{done.stdout[-4000:]}")
    results = json.loads((target / "run_results.json").read_text())["results"]
    per_model = ", ".join(
        f"{r['unique_id'].rsplit('.', 1)[-1]} {r['execution_time']:.1f}" for r in results
    )
    print(f"  dbt {' '.join(args[2:]) or args[0]}: {per_model}")
    return wall, sum(r["execution_time"] for r in results)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-marts-") as tmp:
        settings = Settings(home=Path(tmp))
        settings.ensure_dirs()
        t0 = time.perf_counter()
        land_catalog(settings)
        for day in range(HISTORY_DAYS):
            land_day(settings, day, HISTORY_EVENTS_PER_DAY)
        t1 = time.perf_counter()
        load(settings)
        t2 = time.perf_counter()
        dbt(settings, "run", "--select", f"+{MARTS}", "--exclude", "fct_experiment_users")
        t3 = time.perf_counter()
        print(
            f"setup: generate {t1 - t0:.1f} s, raw load {t2 - t1:.1f} s, "
            f"first build {t3 - t2:.1f} s"
        )
        land_day(settings, HISTORY_DAYS, EVENTS_PER_DAY)  # the new day
        load(settings)
        print(
            f"setup: {HISTORY_DAYS} days of {HISTORY_EVENTS_PER_DAY:,} events + a new day of "
            f"{EVENTS_PER_DAY:,}, loaded and built in {time.perf_counter() - t0:.1f} s"
        )
        inc_wall, inc_models = dbt(settings, "run", "--select", INCREMENTAL)
        full_wall, full_models = dbt(settings, "run", "--select", INCREMENTAL, "--full-refresh")
        print(f"incremental rebuild (new day): {inc_wall:.2f} s wall, {inc_models:.2f} s in models")
        print(
            f"full rebuild (baseline):       {full_wall:.2f} s wall, {full_models:.2f} s in models"
        )
        print(f"ratio incremental/full: {inc_wall / full_wall:.2f} wall, "
              f"{inc_models / full_models:.2f} models "
              f"(full is {full_models / inc_models:.1f}x the incremental model time)")  # fmt: skip


if __name__ == "__main__":
    main()
