"""experiments.yaml: the model, the loader and ``shopflow experiments validate``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from shopflow.experiments import ExperimentsFileError, load_experiments
from shopflow.model_kinds import STRATEGIES

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
experiments:
  - key: exp-1
    status: running
    coverage: 0.8
    variants:
      - {key: control, weight: 0.5, strategy: popularity}
      - {key: treat, weight: 0.5, strategy: als}
"""


def test_repo_file_is_valid():
    config = load_experiments(ROOT / "experiments.yaml")
    assert config.experiments, "the shipped file defines experiments"
    assert {v.strategy for e in config.experiments for v in e.variants} <= set(STRATEGIES)


def test_good_file_loads(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text(GOOD)
    config = load_experiments(path)
    exp = config.get("exp-1")
    assert exp.hash_seed == "exp-1"  # seed defaults to the key, as in GrowthBook
    assert [v.strategy for v in exp.variants] == ["popularity", "als"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("weight: 0.5, strategy: als", "weight: 0.6, strategy: als"), "sum to 1"),
        (("coverage: 0.8", "coverage: 1.5"), "coverage"),
        (("strategy: als", "strategy: magic"), "strategy"),
        (("key: treat", "key: control"), "duplicate variant key"),
        (("status: running", "status: paused"), "status"),
        (("coverage: 0.8", "coverage: 0.8\n    colour: red"), "colour"),
    ],
)
def test_bad_file_names_the_problem(tmp_path, change, message):
    path = tmp_path / "e.yaml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(ExperimentsFileError) as err:
        load_experiments(path)
    assert message in str(err.value)


def test_duplicate_experiment_keys(tmp_path):
    path = tmp_path / "e.yaml"
    body = GOOD.split("experiments:\n", 1)[1]
    path.write_text("experiments:\n" + body + body)
    with pytest.raises(ExperimentsFileError, match="duplicate experiment key"):
        load_experiments(path)


def test_cli_validate_ok_and_errors(tmp_path):
    runner = CliRunner()
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    ok = runner.invoke(app, ["experiments", "validate", str(good)])
    assert ok.exit_code == 0, ok.output
    assert "exp-1" in ok.output

    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("coverage: 0.8", "coverage: -1"))
    res = runner.invoke(app, ["experiments", "validate", str(bad)])
    assert res.exit_code == 1
    assert "coverage" in res.output

    missing = runner.invoke(app, ["experiments", "validate", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1
    assert "cannot read" in missing.output

    broken = tmp_path / "broken.yaml"
    broken.write_text("experiments: [\n")
    res = runner.invoke(app, ["experiments", "validate", str(broken)])
    assert res.exit_code == 1 and "YAML" in res.output


def test_repo_file_runs_an_experiment_on_published_strategies():
    from models.kinds import BATCH_STRATEGIES as PUBLISHED

    running = load_experiments(ROOT / "experiments.yaml").running
    assert running, "the demo serves a running experiment"
    served = set(PUBLISHED) | {"champion", "popularity"}
    for experiment in running:
        assert {v.strategy for v in experiment.variants} <= served, experiment.key
