"""Synthetic generator throughput (events/s, simulation + landing) against the raw speed of
writing the same number of rows of pre-generated random columns (a product_view-like
schema) straight to Parquet with pyarrow, in the same run."""

from __future__ import annotations

import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from shopflow.config import Settings
from shopflow.generate import generate_shop
from shopflow.synth.columns import format_ids

USERS, DAYS, SEED = 45_000, 30, 1  # ~2.5M events
CHUNK = 1_000_000


def _raw_columns(n: int) -> pa.Table:
    """Pre-generated random columns shaped like landed product views."""
    rng = np.random.default_rng(0)
    return pa.table(
        {
            "event_id": format_ids(n, "0a1b2c3d", (17, 2), (0, 4), (np.arange(n), 9)),
            "event_type": pa.repeat(pa.scalar("product_view"), n),
            "schema_version": pa.repeat(pa.scalar(1, pa.int64()), n),
            "occurred_at": pa.array(
                np.sort(rng.integers(1_735_689_600, 1_738_281_600, n)) * 1_000_000,
                pa.timestamp("us", tz="UTC"),
            ),
            "user_id": format_ids(n, "u", (rng.integers(0, USERS, n), 6)),
            "session_id": format_ids(n, "s0a1b2c3d", (np.arange(n) // 7, 12)),
            "item_id": format_ids(n, "i", (rng.integers(0, 4_500, n), 6)),
        }
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "gen")
        report = generate_shop(
            USERS, DAYS, SEED, start=date(2025, 1, 1), settings=settings, progress=False
        )
        n = report.total_events
        table = _raw_columns(n)
        out = Path(tmp) / "raw"
        out.mkdir()
        t0 = time.perf_counter()
        for k, start in enumerate(range(0, n, CHUNK)):
            pq.write_table(table.slice(start, CHUNK), out / f"part-{k}.parquet", compression="zstd")
        raw_s = time.perf_counter() - t0
    raw_rate = n / raw_s
    rate = report.events_per_second
    print(f"baseline raw pyarrow Parquet write: {raw_rate:,.0f} rows/s ({n:,} rows, {raw_s:.2f} s)")
    print(
        f"generate_shop({USERS:,} users, {DAYS} days): {rate:,.0f} events/s "
        f"({n:,} events, {report.seconds:.2f} s, {len(report.files)} files)"
    )
    print(f"ratio generator/raw write: {rate / raw_rate:.2f}")
    print(f"10M events would take ~{10_000_000 / rate:.0f} s at this rate")


if __name__ == "__main__":
    main()
