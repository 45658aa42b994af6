"""``experiment_results`` computes every declared metric for every running experiment, with
fixed and sequential intervals and a plain-language verdict."""

from __future__ import annotations

import dagster as dg
import duckdb

from pipelines.assets.experiments import ExperimentsResource, experiment_results
from pipelines.resources import WarehouseResource
from tests.experiments import metric_data


def test_asset_writes_metric_results_verdicts_and_daily_exposures(tmp_path) -> None:
    warehouse, config = tmp_path / "w.duckdb", tmp_path / "experiments.yaml"
    metric_data.build(warehouse)
    config.write_text(metric_data.CONFIG)
    result = dg.materialize(
        [experiment_results],
        resources={
            "warehouse": WarehouseResource(path=str(warehouse)),
            "experiments": ExperimentsResource(path=str(config)),
        },
    )
    assert result.success
    meta = result.asset_materializations_for_node("experiment_results")[0].metadata
    assert meta["verdicts"].value == (
        "aa-banner: keep running, email-subject: stop: guardrail, one-page-checkout: ship one-page"
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        metrics = con.execute(
            """SELECT DISTINCT experiment_key, metric FROM main.experiment_metric_results
               ORDER BY ALL"""
        ).fetchall()
        assert len(metrics) == 3 * 4  # every metric for every running experiment
        win = con.execute(
            """SELECT lift, ci_low, ci_high, seq_low, seq_high, p_adjusted
               FROM main.experiment_metric_results
               WHERE experiment_key = 'one-page-checkout' AND metric = 'conversion'
                 AND NOT is_control"""
        ).fetchone()
        lift, ci_low, ci_high, seq_low, seq_high, p_adjusted = win
        assert lift > 0.2 and seq_low < ci_low and ci_high < seq_high and seq_low > 0
        assert p_adjusted < 0.001
        days = con.execute(
            """SELECT count(DISTINCT day), sum(users) FROM main.experiment_exposures_daily
               WHERE experiment_key = 'aa-banner'"""
        ).fetchone()
        assert days == (14, 6000)


def test_a_metric_whose_sql_fails_fails_the_asset_naming_it(tmp_path) -> None:
    warehouse, config = tmp_path / "w.duckdb", tmp_path / "experiments.yaml"
    metric_data.build(warehouse, users=200)
    config.write_text(metric_data.CONFIG.replace("main.fct_payments", "main.no_such_mart"))
    result = dg.materialize(
        [experiment_results],
        resources={
            "warehouse": WarehouseResource(path=str(warehouse)),
            "experiments": ExperimentsResource(path=str(config)),
        },
        raise_on_error=False,
    )
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error
    assert "metric 'refund_rate': its SQL fails" in str(failure.cause or failure)
