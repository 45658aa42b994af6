"""Bad feature, experiment and metric declarations are refused with file, feature and reason."""

from __future__ import annotations

import duckdb
import pytest
from typer.testing import CliRunner

from cli.main import app
from shopflow.experiments import ExperimentsFileError
from shopflow.experiments.config import parse_experiments

FEATURE = """
features:
  - key: banner
    type: boolean
    default: false
    rules:
      - condition: {country: {$in: [DE]}, app_version: {$vgt: "1.2.0"}}
        force: true
"""
TWO_NAMESPACED = """
features:
  - key: a
    type: string
    default: x
    rules:
      - {key: exp-a, variations: [x, y], namespace: {id: checkout, range: [0, 0.6]}}
  - key: b
    type: string
    default: x
    rules:
      - {key: exp-b, variations: [x, y], namespace: {id: checkout, range: [0.5, 1]}}
"""


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            FEATURE.replace("$in", "$within"),
            "features.banner.rules.0: condition.country.$within: unknown operator '$within'",
        ),  # fmt: skip
        (FEATURE.replace("{$in: [DE]}", "{$regex: '(['}"), "invalid regular expression"),
        (FEATURE.replace("$in: [DE]", "$in: DE"), "country.$in: needs a list"),
        (FEATURE.replace('"1.2.0"', "soon"), "'soon' is not a version string"),
        (FEATURE.replace("country:", "$where:"), "unknown operator '$where'"),
        (FEATURE.replace("force: true", "force: 'yes'"), "'yes' is not a boolean"),
        (TWO_NAMESPACED, "overlaps 'exp-a' [0, 0.6) in namespace 'checkout'"),
        (
            TWO_NAMESPACED.replace(
                "variations: [x, y], namespace: {id: checkout, range: [0, 0.6]}",
                "variations: [x, y], weights: [0.7, 0.7]",
            ),
            "features.a.rules.0: experiment 'exp-a': weights must sum to 1, got 1.4",
        ),  # fmt: skip
    ],
)
def test_invalid_features_are_refused_with_the_feature_and_reason(text: str, reason: str) -> None:
    with pytest.raises(ExperimentsFileError) as caught:
        parse_experiments(text)
    assert any(reason in line for line in caught.value.errors), caught.value.errors


def test_valid_conditions_pass() -> None:
    config = parse_experiments(FEATURE)
    assert config.features[0].key == "banner"


def test_cli_validate_names_file_feature_reason_and_exits_1(tmp_path) -> None:
    bad = tmp_path / "experiments.yaml"
    bad.write_text(FEATURE.replace("$in", "$within"))
    result = CliRunner().invoke(app, ["experiments", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: features.banner.rules.0: condition.country.$within: unknown operator" in (
        result.output
    )


def test_cli_validate_runs_metric_sql_on_the_warehouse(tmp_path) -> None:
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("CREATE TABLE orders AS SELECT 'u1' AS user_id, 100 AS revenue")
    metrics = """
metrics:
  - key: revenue
    kind: mean
    sql: SELECT user_id, revenue AS value FROM orders
"""
    good = tmp_path / "good.yaml"
    good.write_text(metrics)
    ok = CliRunner().invoke(
        app, ["experiments", "validate", str(good), "--warehouse", str(warehouse)]
    )
    assert ok.exit_code == 0, ok.output
    assert "1 metric(s) ran" in ok.output

    bad = tmp_path / "bad.yaml"
    bad.write_text(metrics.replace("FROM orders", "FROM no_such_mart"))
    failed = CliRunner().invoke(
        app, ["experiments", "validate", str(bad), "--warehouse", str(warehouse)]
    )
    assert failed.exit_code == 1
    assert f"{bad}: metrics.revenue.sql: fails: Catalog Error" in failed.output

    bad.write_text(metrics.replace("revenue AS value", "revenue"))
    failed = CliRunner().invoke(
        app, ["experiments", "validate", str(bad), "--warehouse", str(warehouse)]
    )
    assert failed.exit_code == 1 and "lacks column(s) value" in failed.output
