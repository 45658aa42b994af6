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
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

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
    "experiment_metric_results",
    "experiment_exposures_daily",
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


# ---- what to run when there is nothing to show --------------------------------------------
#: One home for the commands the empty states name.
RUN_PIPELINE = "`shopflow generate --users 500 --days 30` then `shopflow materialize`"
RUN_STREAM = "`shopflow stream features` (`shopflow demo` starts it for you)"
RUN_TRAINING = "`shopflow materialize` (it trains, evaluates and registers the recommenders)"
LIVE_STALE_MINUTES = 15


def empty_state(what: str, command: str) -> str:
    """Markdown for a panel with no data: what is missing and the command that fills it."""
    return f"_No {what} yet._ Run {command}, then reload this page."


# ---- experiments ---------------------------------------------------------------------------
def configured_experiments(settings: Settings | None = None) -> tuple[list[Any], str]:
    """The experiments the shop configures, and a note for the page: none configured (and how
    to add one), or the file is invalid (and why); empty when all is well."""
    from shopflow.experiments import ExperimentsFileError, load_experiments

    settings = settings or get_settings()
    path = settings.experiments_file
    try:
        experiments = list(load_experiments(path).experiments)
    except ExperimentsFileError as exc:
        return [], (
            f"**The experiments file {path} is not valid**: {'; '.join(exc.errors)}. "
            "Fix it and check with `shopflow experiments validate`."
        )
    if not experiments:
        return [], (
            f"**No experiment configured.** This shop runs no A/B test, so there is nothing "
            f"to report. To add one, list it under `experiments:` in {path} (or point "
            "`SHOPFLOW_EXPERIMENTS_FILE` at another file; the shipped experiments.yaml has an "
            "example), check it with `shopflow experiments validate`, and set its `status` to "
            "`running`."
        )
    return experiments, ""


# ---- live metrics (Redis) ------------------------------------------------------------------
def exposures_over_time(daily: pd.DataFrame) -> pd.DataFrame:
    """Cumulative exposed users per day (rows) and variant (columns) of one experiment."""
    if daily.empty:
        return pd.DataFrame()
    wide = daily.pivot_table(index="day", columns="variant", values="users", aggfunc="sum")
    wide = wide.fillna(0).cumsum().astype("int64").reset_index()
    wide.columns.name = None
    wide["day"] = wide["day"].astype(str)
    return wide


def _pct(value: Any) -> str:
    return "-" if value is None or value != value else f"{value:+.1%}"


def _interval(low: Any, high: Any, scale: Any) -> str:
    if low is None or low != low or not scale:
        return "-"
    return f"[{low / scale:+.1%}, {high / scale:+.1%}]"


def metric_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One experiment's metric results as a table a person reads: each treatment's relative
    lift with its fixed-horizon and sequential (always-valid) 95% intervals."""
    if rows.empty:
        return pd.DataFrame()
    out = []
    controls = {r.metric: r for r in rows.itertuples() if r.is_control}
    for r in rows.itertuples():
        if r.is_control:
            continue
        base = getattr(controls.get(r.metric), "users", 0) and abs(getattr(r, "control", 0) or 0)
        out.append({
            "metric": r.metric_name + (" (guardrail)" if r.guardrail else ""),
            "variant": r.variant,
            "users": int(r.users),
            "lift": _pct(getattr(r, "lift", None)),
            "fixed 95% CI": _interval(getattr(r, "ci_low", None), getattr(r, "ci_high", None), base),
            "sequential 95% CI": _interval(getattr(r, "seq_low", None),
                                           getattr(r, "seq_high", None), base),
            "p (Holm)": "-" if getattr(r, "p_adjusted", None) is None or r.p_adjusted != r.p_adjusted
            else f"{r.p_adjusted:.3g}",
        })  # fmt: skip
    return pd.DataFrame(out)


def redis_url(settings: Settings) -> str | None:
    """The configured Redis, else the embedded one if it runs; never starts a server."""
    from shopflow import embedded

    if settings.redis_url:
        return settings.redis_url
    state = embedded.status(settings).get("redis")
    return state.url if state else None


def live_metrics(settings: Settings | None = None, minutes: int = 60) -> pd.DataFrame:
    """Orders placed and paid and active users per minute from Redis (what the features
    consumer writes; revenue per currency is at ``/analytics/realtime``); empty if Redis is
    not up."""
    import redis

    from shopflow.online_store import keys

    settings = settings or get_settings()
    url = redis_url(settings)
    if not url:
        return pd.DataFrame()
    now = int(time.time() // 60)
    span = list(range(now - minutes + 1, now + 1))
    try:
        client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=1)
        with client.pipeline(transaction=False) as pipe:
            for minute in span:
                pipe.get(keys.live_metric(minute, "orders"))
                pipe.get(keys.live_metric(minute, "paid_orders"))
                pipe.pfcount(keys.live_active_users(minute))
            values = pipe.execute()
        client.close()
    except redis.RedisError:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "minute": [datetime.fromtimestamp(m * 60, UTC) for m in span],
            "orders": [int(float(v or 0)) for v in values[0::3]],
            "paid_orders": [int(float(v or 0)) for v in values[1::3]],
            "active_users": [int(v or 0) for v in values[2::3]],
        }
    )


def live_status(live: pd.DataFrame, minutes: int = LIVE_STALE_MINUTES) -> tuple[bool, str]:
    """Whether the stream consumer looks alive, and a sentence saying so (and what to run).

    The ``features`` consumer is what writes the live metrics, so no metric in the last
    ``minutes`` means it is not running (or the shop has had no traffic)."""
    if live.empty:
        return False, (
            "Redis is not running, so there are no live metrics and no stream consumer. Start "
            "the stack with `shopflow demo`, or point `REDIS_URL` at a Redis server and run "
            "`shopflow stream features`."
        )
    recent = live.tail(minutes)
    if int(recent[["orders", "active_users"]].to_numpy().sum()) == 0:
        return False, (
            f"No live events in the last {minutes} minutes: the stream consumer is not "
            f"running (or the shop has no traffic). Run {RUN_STREAM}."
        )
    return True, "The stream consumer is running: live metrics are arriving."


# ---- charts ----------------------------------------------------------------------------------
def chart(
    frame: pd.DataFrame,
    x: str,
    ys: Sequence[str],
    kind: str = "line",
    title: str = "",
    ylabel: str = "",
    width: float = 7.0,
) -> str:
    """An SVG chart (matplotlib) wrapped in ``<figure class="sf-chart" data-points=N>``, so a
    browser test can check the chart holds data; an empty frame gives a 'no data' figure.
    Several line series are drawn wide-to-narrow and dashed, so one never hides another."""
    points = 0 if frame.empty else len(frame)
    head = f'<figure class="sf-chart" data-title="{escape(title)}" data-points="{points}">'
    if points == 0:
        return f"{head}<figcaption>{escape(title)}: no data yet</figcaption></figure>"
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.fonttype"] = "none"  # labels stay text: readable, searchable
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if (
        pd.api.types.is_datetime64_any_dtype(frame[x])
        and (frame[x].dt.normalize() == frame[x]).all()
    ):
        frame = frame.assign(**{x: frame[x].dt.strftime("%Y-%m-%d")})  # days, not hours
    fig, ax = plt.subplots(figsize=(width, 2.8))
    if kind == "bar":
        labelled = frame.assign(**{x: [textwrap.fill(str(v), 20) for v in frame[x]]})
        labelled.plot.bar(x=x, y=list(ys), ax=ax, legend=False, rot=0)
    else:
        styles = ("-", "--", ":", "-.")
        for i, y in enumerate(ys):
            ax.plot(
                frame[x], frame[y], styles[i % 4], marker="os^D"[i % 4], label=y,
                linewidth=max(1.0, 4.0 - 1.5 * i), markersize=max(3.0, 8.0 - 2.5 * i),
            )  # fmt: skip
        if not pd.api.types.is_datetime64_any_dtype(frame[x]):
            ax.xaxis.set_major_locator(MaxNLocator(8, integer=True))  # at most 8 labels
        else:
            locator = mdates.AutoDateLocator(maxticks=8)
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if len(ys) > 1:  # beside the plot, never over a bar or a line
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.set_title(title)
    ax.set_xlabel("")
    ax.set_ylabel(ylabel)
    out = io.StringIO()
    fig.savefig(out, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = out.getvalue()
    svg = svg[svg.index("<svg") :]
    return f"{head}{svg}<figcaption>{escape(title)}</figcaption></figure>"


# ---- formatting ------------------------------------------------------------------------------
def fmt_money(minor: float | int | None, currency: str = "") -> str:
    """Minor units as major units with the currency: ``123456, "USD"`` -> ``1,234.56 USD``."""
    if minor is None or pd.isna(minor):
        return "-"
    return f"{minor / 100:,.2f} {currency}".strip()


def to_major(frame: pd.DataFrame, currency: str = "") -> pd.DataFrame:
    """Every ``*_minor`` column as a major-unit column named without the suffix (plus the
    currency when given, for axes and legends); the minor columns are dropped."""
    out = frame.copy()
    for col in [c for c in out.columns if c.endswith("_minor")]:
        name = col.removesuffix("_minor") + (f" ({currency})" if currency else "")
        out[name] = out.pop(col).astype(float) / 100
    return out


def as_ints(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Counts as integers (sums come back from DuckDB as floats or int128); missing is 0."""
    out = frame.copy()
    for col in [c for c in columns if c in out.columns]:
        out[col] = out[col].fillna(0).astype("int64")
    return out


def retention_table(long: pd.DataFrame) -> pd.DataFrame:
    """``cohort_week, cohort_users, week_number, retention_rate`` rows as a cohort x week table
    of percentages, never NaN: a week the cohort has reached with nobody active is ``0.0%``,
    a week it has not reached yet (past the last week with data) is an empty cell."""
    if long.empty:
        return long
    weeks = pd.to_datetime(long["cohort_week"])
    last = (weeks + pd.to_timedelta(long["week_number"] * 7, unit="D")).max()
    table = long.pivot_table(
        index=["cohort_week", "cohort_users"], columns="week_number", values="retention_rate",
        aggfunc="first",
    )  # fmt: skip
    rows = []
    for (cohort, users), rates in table.iterrows():
        reached = (last - pd.Timestamp(cohort)).days // 7
        row: dict[str, object] = {"cohort_week": f"{pd.Timestamp(cohort):%Y-%m-%d}",
                                  "cohort_users": int(users)}  # fmt: skip
        for week in range(int(long["week_number"].max()) + 1):
            rate = rates.get(week)
            value = 0.0 if rate is None or pd.isna(rate) else float(rate)
            row[f"week {week}"] = f"{value:.1%}" if week <= reached else ""
        rows.append(row)
    return pd.DataFrame(rows)
