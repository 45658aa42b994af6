"""Simulating experiments in the synthetic shop: assignment as served, exposure at the first
session, lifts per variant, and the ``shopflow generate --experiment/--lift`` options."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from shopflow.config import get_settings
from shopflow.experiments import Experiment, assign_many
from shopflow.experiments.simulate import ShopExperiments, parse_lifts

CONFIG = """
experiments:
  - key: recs
    status: draft
    coverage: 0.6
    variants:
      - {key: control, weight: 0.5, strategy: champion}
      - {key: als, weight: 0.5, strategy: als}
  - key: other
    status: running
    variants:
      - {key: control, weight: 0.5, strategy: champion}
      - {key: hybrid, weight: 0.5, strategy: hybrid}
"""


def _exp(key: str, coverage: float = 1.0) -> Experiment:
    return Experiment.model_validate(
        {"key": key, "status": "running", "coverage": coverage, "variants": [
            {"key": "control", "weight": 0.5, "strategy": "champion"},
            {"key": "als", "weight": 0.5, "strategy": "als"}]}
    )  # fmt: skip


def test_users_get_the_served_variant_and_its_lift():
    first, second = _exp("first", 0.5), _exp("second")
    ids = [f"u{i:05d}" for i in range(2000)]
    sim = ShopExperiments([(first, {"als": 1.5}), (second, {"control": 0.5})], ids)
    labels = sim.labels(np.arange(len(ids)))
    for i, user_id in enumerate(ids):
        served = assign_many([first, second], user_id)  # what /recommendations serves
        assert (labels["experiment_key"][i].as_py(), labels["variant"][i].as_py()) == (
            served.experiment_key, served.variant)  # fmt: skip
        assert labels["model_name"][i].as_py() == served.strategy
        want = {("first", "als"): 1.5, ("second", "control"): 0.5}.get(
            (served.experiment_key, served.variant), 1.0
        )
        assert sim.multiplier[i] == want


def test_exposure_is_the_first_session_of_each_assigned_user_once():
    sim = ShopExperiments([(_exp("half", 0.5), {})], [f"u{i}" for i in range(40)])
    assigned = set(np.flatnonzero(sim.experiment_index >= 0).tolist())
    assert 0 < len(assigned) < 40
    day1 = np.array([3, 1, 3, 2, 1, *range(40)])  # user index per session, in time order
    exposed = sim.expose(day1)
    users = day1[exposed].tolist()
    assert sorted(users) == sorted(assigned) and len(users) == len(set(users))
    for position in exposed:  # each is the user's first session that day
        assert position == day1.tolist().index(day1[position])
    assert sim.expose(day1).size == 0  # already exposed: never again


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["als"], "use VARIANT=FACTOR or EXPERIMENT:VARIANT=FACTOR"),
        (["als=x"], "'x' is not a number"),
        (["nope=1.2"], "has no variant 'nope' (variants: control, als)"),
        (["als=-1"], "must be >= 0"),
        (["zzz:als=1.2"], "experiment 'zzz' is not simulated"),
    ],
)
def test_bad_lifts_are_clear_errors(specs, message):
    with pytest.raises(ValueError) as err:
        parse_lifts(specs, [_exp("a")])
    assert message in str(err.value)


def test_lifts_name_the_experiment_when_several_are_simulated():
    a, b = _exp("a"), _exp("b")
    assert parse_lifts(["b:als=1.2"], [a, b]) == [(a, {}), (b, {"als": 1.2})]
    with pytest.raises(ValueError, match="name the experiment"):
        parse_lifts(["als=1.2"], [a, b])


@pytest.fixture
def experiments_home(shopflow_home, monkeypatch: pytest.MonkeyPatch):
    path = shopflow_home.home_dir / "experiments.yaml"
    path.write_text(CONFIG)
    monkeypatch.setenv("SHOPFLOW_EXPERIMENTS_FILE", str(path))
    get_settings.cache_clear()
    return get_settings()


def test_cli_generates_exposures_of_the_named_experiment(experiments_home):
    args = ["generate", "--users", "300", "--days", "3", "--seed", "2", "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--experiment", "recs", "--lift", "als=1.5"])
    assert result.exit_code == 0, result.output
    assert "experiment recs: simulated lifts als=1.5" in result.output
    folder = experiments_home.landing_dir / "rec_impression"
    got = duckdb.sql(
        f"""SELECT experiment_key, variant, count(*), count(DISTINCT user_id)
            FROM read_parquet('{folder}/**/*.parquet') WHERE experiment_key IS NOT NULL
            GROUP BY ALL ORDER BY ALL"""
    ).fetchall()
    assert [(k, v) for k, v, *_ in got] == [("recs", "als"), ("recs", "control")]
    assert all(n == users > 0 for *_, n, users in got)  # one exposure per user


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lift", "als=1.2"], "--lift needs --experiment"),
        (["--experiment", "nope"], "'nope' is not in the experiments file (known: recs, other)"),
        (["--experiment", "recs", "--lift", "hybrid=2"], "has no variant 'hybrid'"),
        (["--experiment", "recs", "--experiment", "other", "--lift", "als=2"], "name the exper"),
    ],
)
def test_cli_rejects_bad_experiment_options_and_lands_nothing(experiments_home, args, message):
    base = ["generate", "--users", "20", "--days", "1", "--no-progress"]
    result = CliRunner().invoke(app, [*base, *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert not any(experiments_home.landing_dir.iterdir())
