"""Landing -> raw ETL throughput (events/s) of the ``raw_events`` logic (contract checks,
quarantine, dedup, bookkeeping) against a bare DuckDB ``CREATE TABLE AS SELECT * FROM
read_parquet(...)`` of the same files, in the same run.

Makes its own landing data: ~2M product_view rows in the event schema (pyarrow), 1% of them
duplicates of other events and 0.5% breaking the contract, in 8 daily partitions.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines import raw_load
from shopflow import events, landing
from shopflow.config import Settings

ROWS, DAYS, SEED, ROUNDS = 2_000_000, 8, 7, 3
EVENT_TYPE = "product_view"


def make_rows(n: int, day: datetime, start: int, rng: np.random.Generator) -> pa.Table:
    ids = np.arange(start, start + n)
    dup = rng.random(n) < 0.01  # a retried producer: the id of an earlier event
    ids[dup] = rng.integers(0, max(start, 1), dup.sum()) if start else ids[dup]
    items = pc.cast(pa.array(rng.integers(0, 50_000, n)), pa.string())
    bad = rng.random(n) < 0.005  # an empty item_id breaks the contract
    items = pc.if_else(pa.array(bad), "", items)
    micros = rng.integers(0, 86_400_000_000, n)
    occurred = pa.array(int(day.timestamp() * 1_000_000) + micros, pa.timestamp("us", tz="UTC"))
    return pa.table(
        {
            "event_id": pc.binary_join_element_wise("ev-", pc.cast(pa.array(ids), pa.string()), ""),
            "event_type": pa.repeat(pa.scalar(EVENT_TYPE), n),
            "schema_version": pa.repeat(pa.scalar(events.SCHEMA_VERSION, pa.int64()), n),
            "occurred_at": occurred,
            "user_id": pc.cast(pa.array(rng.integers(0, 200_000, n)), pa.string()),
            "session_id": pc.cast(pa.array(rng.integers(0, 1_000_000, n)), pa.string()),
            "item_id": items,
            "rec_request_id": pa.nulls(n, pa.string()),
        }
    )


def write_landing(settings: Settings) -> list[Path]:
    rng = np.random.default_rng(SEED)
    per_day = ROWS // DAYS
    start_day = datetime(2024, 1, 1, tzinfo=UTC)
    files: list[Path] = []
    for d in range(DAYS):
        table = make_rows(per_day, start_day + timedelta(days=d), d * per_day, rng)
        files += landing.write_table(EVENT_TYPE, table, settings)
    return files


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bare_load(db: Path, paths: str) -> tuple[float, int]:
    with duckdb.connect(str(db)) as con:
        con.execute("SET enable_progress_bar = false")
        seconds = timed(
            lambda: con.execute(f"CREATE TABLE raw_bare AS SELECT * FROM read_parquet([{paths}])")
        )
        return seconds, con.execute("SELECT count(*) FROM raw_bare").fetchall()[0][0]


def etl_load(db: Path, landing_dir: Path) -> tuple[float, float, raw_load.TypeStats]:
    with duckdb.connect(str(db)) as con:
        con.execute("SET enable_progress_bar = false")
        report: list[raw_load.LoadReport] = []
        seconds = timed(lambda: report.append(raw_load.load_landing(con, landing_dir)))
        rerun_s = timed(lambda: raw_load.load_landing(con, landing_dir))
    return seconds, rerun_s, report[0].by_type[EVENT_TYPE]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-etl-") as tmp:
        settings = Settings(home=Path(tmp))
        settings.ensure_dirs()
        files = write_landing(settings)
        paths = ", ".join(f"'{p}'" for p in files)
        bare_runs, etl_runs = [], []
        for i in range(ROUNDS):  # alternating order, fresh database files; best of each
            for kind in ("bare", "etl") if i % 2 == 0 else ("etl", "bare"):
                db = Path(tmp) / f"{kind}-{i}.duckdb"
                if kind == "bare":
                    bare_runs.append(bare_load(db, paths))
                else:
                    etl_runs.append(etl_load(db, settings.landing_dir))
        bare_s, rows = min(bare_runs)
        etl_s, rerun_s, stats = min(etl_runs, key=lambda run: run[0])

    bare_eps, etl_eps = rows / bare_s, rows / etl_s
    print(f"events: {rows:,} in {len(files)} files; best of {ROUNDS} alternating rounds")
    print(
        f"raw_events ETL: {etl_s:.2f} s, {etl_eps:,.0f} events/s "
        f"(loaded {stats.rows_loaded:,}, quarantined {stats.rows_quarantined:,}, "
        f"duplicates skipped {stats.duplicates_skipped:,}); rerun with no new files {rerun_s:.2f} s"
    )
    print(f"bare DuckDB CTAS read_parquet: {bare_s:.2f} s, {bare_eps:,.0f} events/s")
    print(f"ratio ETL / bare throughput: {etl_eps / bare_eps:.2f}")


if __name__ == "__main__":
    main()
