"""Data access shared by the dashboard notebooks: read-only and never in a pipeline's way.

DuckDB lets one process write the warehouse; while a pipeline holds it, nobody else can open
it, and a dashboard holding it open would block the pipeline. So dashboards never query the
warehouse directly: ``refresh_snapshot`` attaches it read-only for a moment, copies the marts
into a snapshot file, and lets go; every chart queries the snapshot. When the warehouse is
busy it retries ("warehouse busy, retrying") and then falls back to the previous snapshot.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import duckdb
import pandas as pd

from shopflow.config import Settings, get_settings

TABLES = (
    "mart_funnel_daily",
    "mart_revenue_daily",
    "mart_cohort_retention_weekly",
    "mart_product_daily",
    "mart_recs_daily",
    "mart_reviews_daily",
    "experiment_results",
    "dim_items",
)


@dataclass(frozen=True)
class Snapshot:
    path: Path
    taken_at: datetime | None
    fresh: bool
    message: str

    def query(self, sql: str, params: Sequence[object] = ()) -> pd.DataFrame:
        """Run SQL on the snapshot; an absent snapshot or table gives an empty frame."""
        if not self.path.exists():
            return pd.DataFrame()
        with duckdb.connect(str(self.path), read_only=True) as con:
            try:
                return con.execute(sql, list(params)).df()
            except duckdb.CatalogException:
                return pd.DataFrame()


def snapshot_path(settings: Settings) -> Path:
    return settings.home_dir / "dashboard" / "warehouse-snapshot.duckdb"


def _copy(warehouse: Path, target: Path, tables: Sequence[str]) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    with duckdb.connect(str(tmp)) as con:
        con.execute(f"ATTACH '{warehouse}' AS wh (READ_ONLY)")
        present = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'wh' "
                "AND schema_name = 'main'"
            ).fetchall()
        }
        for table in tables:
            if table in present:
                con.execute(f"CREATE TABLE {table} AS SELECT * FROM wh.main.{table}")
        con.execute("DETACH wh")
    os.replace(tmp, target)


def refresh_snapshot(
    settings: Settings | None = None,
    retries: int = 5,
    delay_s: float = 0.5,
    log: Callable[[str], None] = print,
    tables: Sequence[str] = TABLES,
) -> Snapshot:
    """Copy the marts out of the warehouse (read-only, briefly); never raises for a lock."""
    settings = settings or get_settings()
    target = snapshot_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    warehouse = settings.warehouse_path
    if not warehouse.exists():
        return _previous(target, f"no warehouse at {warehouse} yet: run the pipeline first")
    for attempt in range(1, retries + 1):
        try:
            _copy(warehouse, target, tables)
            return Snapshot(target, datetime.now(UTC), True, "live snapshot of the warehouse")
        except duckdb.IOException as exc:  # a writer holds the file
            if "lock" not in str(exc).lower():
                raise
            log(f"warehouse busy, retrying ({attempt}/{retries})")
            time.sleep(delay_s)
    return _previous(target, "warehouse busy (a pipeline is writing)")


def _previous(target: Path, reason: str) -> Snapshot:
    if target.exists():
        taken = datetime.fromtimestamp(target.stat().st_mtime, UTC)
        return Snapshot(
            target, taken, False, f"{reason}; showing the snapshot of {taken:%F %T} UTC"
        )
    return Snapshot(target, None, False, f"{reason}; no snapshot yet")


# ---- live metrics (Redis) ------------------------------------------------------------------
def live_metrics(settings: Settings | None = None, minutes: int = 60) -> pd.DataFrame:
    """Orders, revenue and active users per minute from Redis; empty if Redis is not up."""
    import redis

    from shopflow import embedded
    from shopflow.online_store import keys

    settings = settings or get_settings()
    url = settings.redis_url
    if not url:
        state = embedded.status(settings).get("redis")
        url = state.url if state else None
    if not url:
        return pd.DataFrame()
    now = int(time.time() // 60)
    span = list(range(now - minutes + 1, now + 1))
    try:
        client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=1)
        with client.pipeline(transaction=False) as pipe:
            for minute in span:
                pipe.get(keys.live_metric(minute, "orders"))
                pipe.get(keys.live_metric(minute, "revenue_minor"))
                pipe.pfcount(keys.live_active_users(minute))
            values = pipe.execute()
        client.close()
    except redis.RedisError:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "minute": [datetime.fromtimestamp(m * 60, UTC) for m in span],
            "orders": [int(float(v or 0)) for v in values[0::3]],
            "revenue_minor": [int(float(v or 0)) for v in values[1::3]],
            "active_users": [int(v or 0) for v in values[2::3]],
        }
    )


# ---- charts ----------------------------------------------------------------------------------
def chart(
    frame: pd.DataFrame, x: str, ys: Sequence[str], kind: str = "line", title: str = ""
) -> str:
    """An SVG chart (matplotlib) wrapped in ``<figure class="sf-chart" data-points=N>``, so a
    browser test can check the chart holds data; an empty frame gives a 'no data' figure."""
    points = 0 if frame.empty else len(frame)
    head = f'<figure class="sf-chart" data-title="{escape(title)}" data-points="{points}">'
    if points == 0:
        return f"{head}<figcaption>{escape(title)}: no data yet</figcaption></figure>"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.8))
    if kind == "bar":
        frame.plot.bar(x=x, y=list(ys), ax=ax, legend=len(ys) > 1)
    else:
        frame.plot(x=x, y=list(ys), ax=ax, marker="o", legend=len(ys) > 1)
    ax.set_title(title)
    ax.set_xlabel("")
    fig.tight_layout()
    out = io.StringIO()
    fig.savefig(out, format="svg")
    plt.close(fig)
    svg = out.getvalue()
    svg = svg[svg.index("<svg") :]
    return f"{head}{svg}<figcaption>{escape(title)}</figcaption></figure>"


def fmt_money(minor: float | int | None, currency: str = "") -> str:
    if minor is None or pd.isna(minor):
        return "-"
    return f"{minor / 100:,.2f} {currency}".strip()
