"""A known effect simulated in the synthetic shop is found by the whole pipeline (generator ->
landing -> raw -> dbt ``fct_experiment_users`` -> ``experiment_results``), and an A/A test
in the same shop finds nothing."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from pipelines.assets.experiments import ExperimentsResource, experiment_results
from pipelines.resources import WarehouseResource
from shopflow.config import Settings
from shopflow.experiments import ExperimentsConfig, assign, load_experiments
from shopflow.generate import generate_shop
from tests.warehouse import analytics_data as shop

USERS, DAYS, SEED, LIFT = 4000, 14, 11, 2.0
CONFIG = """
experiments:
  - key: lifted          # half the users; als doubles the per-session purchase probability
    seed: lifted-seed
    status: running
    coverage: 0.5
    variants:
      - {key: control, weight: 0.5, strategy: champion}
      - {key: als, weight: 0.5, strategy: als}
  - key: same            # everyone else: an A/A test, both arms serve the champion
    status: running
    variants:
      - {key: control, weight: 0.5, strategy: champion}
      - {key: also-control, weight: 0.5, strategy: champion}
"""


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, ExperimentsConfig]:
    settings = Settings(home=tmp_path_factory.mktemp("effect-home"))
    settings.ensure_dirs()
    path = settings.home_dir / "experiments.yaml"
    path.write_text(CONFIG)
    config = load_experiments(path)
    simulated = [(config.get("lifted"), {"als": LIFT}), (config.get("same"), {})]
    generate_shop(USERS, DAYS, SEED, settings=settings, progress=False, experiments=simulated)
    shop.load(settings)
    shop.dbt(settings, "run", "--select", "+fct_experiment_users")
    result = dg.materialize(
        [experiment_results],
        resources={
            "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
            "experiments": ExperimentsResource(path=str(path)),
        },
    )
    assert result.success
    return settings, config


def _results(settings: Settings, experiment: str) -> dict[str, dict]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        frame = con.execute(
            "SELECT * FROM main.experiment_results WHERE experiment_key = ?", [experiment]
        ).df()
    return {row["variant"]: row for row in frame.to_dict("records")}


def test_lifted_variant_is_significantly_better(measured):
    settings, _ = measured
    res = _results(settings, "lifted")
    als, control = res["als"], res["control"]
    assert control["verdict"] == "control" and min(als["users"], control["users"]) > 500
    assert als["verdict"] == "better than control"
    assert als["conversion_diff"] > 0 and als["conversion_ci_low"] > 0
    assert als["conversion_p_value"] < 0.05 and als["chance_to_beat_control"] > 0.95
    assert als["conversion_rate"] > 1.2 * control["conversion_rate"]
    assert not als["srm_flag"]


def test_aa_test_shows_no_significant_difference(measured):
    settings, _ = measured
    same = _results(settings, "same")["also-control"]
    assert same["verdict"] == "no significant difference"
    assert same["conversion_ci_low"] < 0 < same["conversion_ci_high"]
    assert same["conversion_p_value"] >= 0.05 and not same["srm_flag"]


def test_each_exposed_user_is_in_one_experiment_with_the_served_variant(measured):
    settings, config = measured
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "SELECT experiment_key, user_id, variant, impressions, variants_seen "
            "FROM main.fct_experiment_users"
        ).fetchall()
    assert len({user for _, user, *_ in rows}) == len(rows)  # one experiment per user
    for key, user, variant, impressions, seen in rows:
        # the experiment /recommendations would put the user in (first that includes them)
        first = next(a for e in config.experiments if (a := assign(e, user)) is not None)
        assert (first.experiment_key, first.variant) == (key, variant), user
        assert (impressions, seen) == (1, 1)  # one exposure: the user's first session
    lifted = sum(key == "lifted" for key, *_ in rows) / len(rows)
    assert 0.4 < lifted < 0.6  # coverage 0.5
