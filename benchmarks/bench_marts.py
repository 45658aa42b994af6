"""Analytics marts: incremental rebuild after one new day of 1M events vs a full rebuild.

Builds its own shop in the event schema (pyarrow, ~1M events a day: sessions, views, carts,
checkouts, orders, payments, recommendation impressions and clicks, reviews), loads it with the
pipeline's raw loader, builds the marts, lands one more day, then times `dbt run` of the
incremental analytics marts (the baseline: the same models with --full-refresh).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from pipelines.raw_load import load_landing
from shopflow import events, landing
from shopflow.config import Settings

REPO = Path(__file__).resolve().parents[1]
DBT_DIR = REPO / "warehouse"
HISTORY_DAYS = int(os.environ.get("BENCH_MARTS_DAYS", "5"))
EVENTS_PER_DAY = 1_000_000
USERS, ITEMS = 200_000, 5_000
START = datetime(2024, 1, 1, tzinfo=UTC)
SHARE = {  # event mix per day, summing to 1
    "session_start": 0.10, "product_view": 0.55, "add_to_cart": 0.10, "checkout_started": 0.05,
    "order_placed": 0.04, "payment.completed": 0.04, "rec_impression": 0.08, "rec_click": 0.03,
    "review.submitted": 0.01,
}  # fmt: skip
INCREMENTAL = "path:models/marts/analytics,config.materialized:incremental"


def _ids(prefix: str, values: np.ndarray) -> pa.Array:
    return pa.array(np.char.add(prefix, values.astype(str)))


def _table(event_type: str, n: int, day: int, rng: np.random.Generator) -> pa.Table:
    schema = events.arrow_schema(event_type)
    base = START + timedelta(days=day)
    seconds = np.sort(rng.integers(0, 86_400, n))
    users = rng.integers(0, USERS, n)
    items = rng.integers(0, ITEMS, n)
    orders = _ids(f"o{day}-", np.arange(n))
    cols: dict[str, pa.Array] = {
        "event_id": _ids(f"{event_type}-{day}-", np.arange(n)),
        "event_type": pa.array([event_type] * n),
        "schema_version": pa.array(np.ones(n, dtype=np.int64)),
        "occurred_at": pa.array(
            (np.datetime64(base.replace(tzinfo=None), "us") + seconds * 1_000_000).astype(
                "datetime64[us]"
            )
        ).cast(pa.timestamp("us", tz="UTC")),
        "user_id": _ids("u", users),
        "session_id": _ids(f"s{day}-", users),
        "item_id": _ids("i", items),
        "traffic_source": pa.array(rng.choice(["direct", "search", "email", "ads"], n)),
        "device": pa.array(rng.choice(["desktop", "mobile"], n)),
        "quantity": pa.array(rng.integers(1, 3, n)),
        "unit_price_minor": pa.array(rng.integers(500, 5000, n)),
        "currency": pa.array(["USD"] * n),
        "cart_value_minor": pa.array(rng.integers(500, 9000, n)),
        "item_count": pa.array(rng.integers(1, 4, n)),
        "order_id": orders,
        "payment_id": _ids(f"p{day}-", np.arange(n)),
        "total_minor": pa.array(rng.integers(500, 9000, n)),
        "amount_minor": pa.array(rng.integers(500, 9000, n)),
        "method": pa.array(rng.choice(["STRIPE", "PAYPAL"], n)),
        "gateway": pa.array(["test"] * n),
        "status": pa.array(["completed"] * n),
        "refunded_minor": pa.array(np.zeros(n, dtype=np.int64)),
        "request_id": _ids(f"r{day}-", np.arange(n)),
        "item_ids": pa.array([["i1", "i2", "i3"]] * n, pa.list_(pa.string())),
        "model_name": pa.array(["als"] * n),
        "model_version": pa.array(rng.choice(["3", "4"], n)),
        "placement": pa.array(["home"] * n),
        "experiment_key": pa.array(["recs-strategy-v1"] * n),
        "variant": pa.array(rng.choice(["control", "als"], n)),
        "position": pa.array(rng.integers(0, 10, n)),
        "review_id": _ids(f"rv{day}-", np.arange(n)),
        "rating": pa.array(rng.integers(1, 6, n)),
        "verified_purchase": pa.array(np.zeros(n, dtype=bool)),
    }
    if event_type == "order_placed":
        qty, price = rng.integers(1, 3, n), rng.integers(500, 5000, n)
        lines = [
            [{"item_id": f"i{i}", "quantity": int(q), "unit_price_minor": int(p)}]
            for i, q, p in zip(items, qty, price, strict=True)
        ]
        cols["lines"] = pa.array(lines, schema.field("lines").type)
        cols["total_minor"] = pa.array(qty * price)
    if event_type == "payment.completed":  # pay the same day's orders
        cols["order_id"] = orders
    arrays = [cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def land_day(settings: Settings, day: int) -> None:
    rng = np.random.default_rng(day)
    for event_type, share in SHARE.items():
        landing.write_table(event_type, _table(event_type, int(EVENTS_PER_DAY * share), day, rng),
                            settings)  # fmt: skip


def land_catalog(settings: Settings) -> None:
    n = ITEMS
    rows = [
        events.make_event(
            "product.upserted",
            {"item_id": f"i{i}", "title": f"Item {i}", "category": f"c{i % 20}",
             "price_minor": 1000, "currency": "USD", "stock": 10},
            occurred_at=START - timedelta(days=1),
        )
        for i in range(n)
    ]  # fmt: skip
    landing.write_events(rows, settings)


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
            land_day(settings, day)
        t1 = time.perf_counter()
        load(settings)
        t2 = time.perf_counter()
        dbt(settings, "run", "--select", "+path:models/marts/analytics")
        t3 = time.perf_counter()
        print(
            f"setup: generate {t1 - t0:.1f} s, raw load {t2 - t1:.1f} s, "
            f"first build {t3 - t2:.1f} s"
        )
        land_day(settings, HISTORY_DAYS)  # the new day
        load(settings)
        print(f"setup: {HISTORY_DAYS} days + 1 new day of {EVENTS_PER_DAY:,} events, "
              f"loaded and built in {time.perf_counter() - t0:.1f} s")  # fmt: skip
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
