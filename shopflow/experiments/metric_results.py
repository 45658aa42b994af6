"""Every declared metric for every running experiment, with a plain-language verdict.

Exposed users come from ``fct_experiment_users`` (one row per experiment and user, the variant
of the first exposure); a metric's SQL gives per-user values, summed per user; exposed users
without a row count as zero. Each treatment is compared with control (fixed-horizon and
sequential intervals, Holm over the treatments of a metric); the verdict reads the sequential
intervals, so it may be looked at every day:

- ``stop: sample ratio mismatch`` when the arms' sizes do not match their weights;
- ``stop: guardrail`` when a treatment harms a guardrail metric;
- ``ship <variant>`` when a treatment wins the primary (first non-guardrail) metric;
- ``keep running`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from shopflow.experiments import stats
from shopflow.experiments.config import ExperimentsConfig
from shopflow.experiments.features import Status
from shopflow.experiments.metrics import Metric, MetricKind
from shopflow.experiments.sequential import compare_metric

USERS_TABLE = "main.fct_experiment_users"
METRICS_TABLE = "main.experiment_metric_results"
DAILY_TABLE = "main.experiment_exposures_daily"


@dataclass(frozen=True)
class Arms:
    """A running experiment's variants (control first) and weights."""

    key: str
    variants: list[str]
    weights: list[float]


def running_experiments(config: ExperimentsConfig) -> list[Arms]:
    """Recommendation experiments and feature experiment rules that are running."""
    found = [Arms(e.key, [v.key for v in e.variants], e.weights) for e in config.running]
    for feature in config.features:
        for rule in feature.experiments:
            if rule.status is Status.running:
                found.append(Arms(rule.key, rule.keys, rule.split))
    return found


def read_metric(con: duckdb.DuckDBPyConnection, metric: Metric, experiment: str) -> pd.DataFrame:
    """Exposed users of ``experiment`` with the metric's value (and denominator). SQL that
    returns an ``experiment_key`` column is matched per experiment (values measured after
    that experiment's exposure, as ``fct_experiment_users`` has them), else per user."""
    den = "sum(denominator)" if metric.kind is MetricKind.ratio else "0"
    try:
        columns = {d[0] for d in con.execute(f"SELECT * FROM ({metric.sql}) LIMIT 0").description}
        keys = "experiment_key, user_id" if "experiment_key" in columns else "user_id"
        return con.execute(
            f"""SELECT e.user_id, e.variant, coalesce(m.value, 0) AS value,
                       coalesce(m.denominator, 0) AS denominator
                FROM {USERS_TABLE} e
                LEFT JOIN (SELECT {keys}, sum(value) AS value, {den} AS denominator
                           FROM ({metric.sql}) GROUP BY ALL) m USING ({keys})
                WHERE e.experiment_key = ?""",
            [experiment],
        ).df()
    except duckdb.Error as exc:
        raise ValueError(f"metric {metric.key!r}: its SQL fails: {exc}") from exc


def _compare(metric: Metric, control: pd.DataFrame, arm: pd.DataFrame) -> dict[str, Any]:
    ratio = metric.kind is MetricKind.ratio
    c_den = control["denominator"].to_numpy(float) if ratio else None
    t_den = arm["denominator"].to_numpy(float) if ratio else None
    if len(arm) < 2 or len(control) < 2:
        return {}
    result = compare_metric(control["value"].to_numpy(float), arm["value"].to_numpy(float),
                            c_den, t_den)  # fmt: skip
    return result.as_dict()


def _direction(row: dict[str, Any], metric: Metric) -> int:
    """+1 when the sequential interval says better, -1 worse, 0 undecided."""
    if row.get("seq_low") is None:
        return 0
    sign = 1 if metric.higher_is_better else -1
    if row["seq_low"] > 0:
        return sign
    if row["seq_high"] < 0:
        return -sign
    return 0


def analyze_experiment(
    con: duckdb.DuckDBPyConnection, arms: Arms, metrics: list[Metric]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for metric in metrics:
        users = read_metric(con, metric, arms.key)
        if users.empty:
            return []
        groups = {v: users[users["variant"] == v] for v in arms.variants}
        srm = stats.srm_check([len(groups[v]) for v in arms.variants], arms.weights)
        control = groups[arms.variants[0]]
        metric_rows = []
        for variant in arms.variants:
            g = groups[variant]
            is_control = variant == arms.variants[0]
            row: dict[str, Any] = dict(
                experiment_key=arms.key, metric=metric.key, metric_name=metric.name or metric.key,
                guardrail=metric.guardrail, higher_is_better=metric.higher_is_better,
                variant=variant, is_control=is_control, users=len(g),
                srm_p_value=srm.p_value, srm_flag=srm.mismatch,
            )  # fmt: skip
            if not is_control:
                row |= _compare(metric, control, g)
            row["direction"] = _direction(row, metric)
            metric_rows.append(row)
        tested = [r for r in metric_rows if r.get("p_value") is not None]
        if len(tested) > 1:
            adjusted = stats.adjust_p_values([r["p_value"] for r in tested], stats.ALPHA, "holm")
            for row, p in zip(tested, adjusted, strict=True):
                row["p_adjusted"] = p
        else:
            for row in tested:
                row["p_adjusted"] = row["p_value"]
        rows += metric_rows
    verdict = verdict_of(rows, metrics)
    for row in rows:
        row["verdict"] = verdict
    return rows


def verdict_of(rows: list[dict[str, Any]], metrics: list[Metric]) -> str:
    if any(r["srm_flag"] for r in rows):
        return "stop: sample ratio mismatch"
    if any(r["guardrail"] and r["direction"] < 0 for r in rows):
        return "stop: guardrail"
    primary = next((m.key for m in metrics if not m.guardrail), None)
    winners = [r for r in rows if r["metric"] == primary and r["direction"] > 0]
    if winners:
        best = max(winners, key=lambda r: r["diff"] if r.get("higher_is_better") else -r["diff"])
        return f"ship {best['variant']}"
    return "keep running"


def compute_metric_results(
    con: duckdb.DuckDBPyConnection, config: ExperimentsConfig
) -> pd.DataFrame:
    rows = [r for arms in running_experiments(config)
            for r in analyze_experiment(con, arms, config.metrics)]  # fmt: skip
    out = pd.DataFrame(rows)
    if not out.empty:
        out["computed_at"] = datetime.now(UTC)
    return out


def daily_exposures(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """New exposed users per experiment, variant and day (UTC); empty for a users table
    without exposure times."""
    columns = {d[0] for d in con.execute(f"SELECT * FROM {USERS_TABLE} LIMIT 0").description}
    if "first_exposed_at" not in columns:
        return pd.DataFrame()
    return con.execute(
        f"""SELECT experiment_key, variant, CAST(first_exposed_at AS DATE) AS day,
                   count(*) AS users
            FROM {USERS_TABLE} GROUP BY ALL ORDER BY experiment_key, variant, day"""
    ).df()


def write_table(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> int:
    """Replace ``table`` with ``frame`` (idempotent; nothing is written when it is empty)."""
    if frame.empty:
        return 0
    con.register("_frame", frame)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM _frame")
    finally:
        con.unregister("_frame")
    return len(frame)
