"""Experiment results in the warehouse: read ``fct_experiment_users`` (dbt), analyse each
configured experiment, and replace the ``experiment_results`` table (idempotent)."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pandas as pd

from shopflow.experiments.analysis import analyze, results_frame
from shopflow.experiments.config import ExperimentsConfig

USERS_TABLE = "main.fct_experiment_users"
RESULTS_TABLE = "main.experiment_results"


def read_users(con: duckdb.DuckDBPyConnection, experiment_key: str) -> pd.DataFrame:
    return con.execute(
        f"""SELECT user_id, variant, impressions, clicks, converted, revenue_minor,
                   pre_revenue_minor
            FROM {USERS_TABLE} WHERE experiment_key = ?""",
        [experiment_key],
    ).df()


def compute_results(con: duckdb.DuckDBPyConnection, config: ExperimentsConfig) -> pd.DataFrame:
    """One row per experiment and variant, for every experiment with exposed users."""
    frames = []
    for experiment in config.experiments:
        users = read_users(con, experiment.key)
        if users.empty:
            continue
        frames.append(results_frame(analyze(experiment, users)))
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    out["computed_at"] = datetime.now(UTC)
    return out


def write_results(con: duckdb.DuckDBPyConnection, results: pd.DataFrame) -> int:
    """Replace the results table with ``results`` (nothing is written when it is empty)."""
    if results.empty:
        return 0
    con.register("_experiment_results", results)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {RESULTS_TABLE} AS SELECT * FROM _experiment_results")
    finally:
        con.unregister("_experiment_results")
    return len(results)
