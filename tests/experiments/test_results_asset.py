"""The ``experiment_results`` asset: reads per-user outcomes, writes results and metadata."""

from __future__ import annotations

import dagster as dg
import duckdb
import pandas as pd

from pipelines.assets.experiments import ExperimentsResource, experiment_results
from pipelines.resources import WarehouseResource
from shopflow.experiments import load_experiments
from shopflow.experiments.simulate import simulate_users

CONFIG = """
experiments:
  - key: exp-a
    status: running
    variants:
      - {key: control, weight: 0.5, strategy: popularity}
      - {key: als, weight: 0.5, strategy: als}
  - key: exp-empty
    status: draft
    variants:
      - {key: control, weight: 0.5, strategy: champion}
      - {key: hybrid, weight: 0.5, strategy: hybrid}
"""


def _warehouse(path, users: pd.DataFrame) -> None:
    with duckdb.connect(str(path)) as con:
        con.register("u", users)
        con.execute(
            "CREATE TABLE main.fct_experiment_users AS SELECT 'exp-a' AS experiment_key, * FROM u"
        )


def test_asset_writes_results_table_and_metadata(tmp_path):
    config_path = tmp_path / "experiments.yaml"
    config_path.write_text(CONFIG)
    experiment = load_experiments(config_path).get("exp-a")
    _warehouse(
        tmp_path / "w.duckdb", simulate_users(experiment, 8000, seed=7, effects={"als": 1.4})
    )

    result = dg.materialize(
        [experiment_results],
        resources={
            "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
            "experiments": ExperimentsResource(path=str(config_path)),
        },
    )
    assert result.success
    meta = result.asset_materializations_for_node("experiment_results")[0].metadata
    assert meta["rows"].value == 2 and meta["srm_flagged"].value == "none"
    assert "better than control" in meta["results"].value

    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        got = con.execute(
            "SELECT variant, is_control, verdict FROM main.experiment_results ORDER BY variant"
        ).fetchall()
    assert got == [("als", False, "better than control"), ("control", True, "control")]

    # rerunning replaces the table, it does not append
    assert dg.materialize(
        [experiment_results],
        resources={
            "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
            "experiments": ExperimentsResource(path=str(config_path)),
        },
    ).success
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM main.experiment_results").fetchone() == (2,)
