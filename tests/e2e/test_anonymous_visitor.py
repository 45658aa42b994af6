"""Nothing a visitor does stops the pipeline: an anonymous visitor's ``GET /recommendations``
under a running experiment logs an exposure for a user the warehouse never registered; the
next materialize still succeeds end to end, dim_users has the visitor, the experiment results
count the exposure, and a warning check counts the unregistered user's exposure."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest
from fastapi.testclient import TestClient

from cli.commands.materialize import failed_steps, materialize_all
from shopflow.config import Settings, get_settings
from shopflow.experiments import load_experiments
from shopflow.generate import generate_shop
from tests.experiments.helpers import use_experiments
from tests.serving.test_recommendations import publish

pytestmark = pytest.mark.e2e

EXPERIMENT = """
experiments:
  - key: recs-anon
    seed: anon
    status: running
    variants:
      - {key: control, weight: 0.5, strategy: champion}
      - {key: als, weight: 0.5, strategy: als}
"""
VISITOR = "anon-7f3a9c"
UNREGISTERED_EXPOSURES = (
    "relationships_stg_rec_impressions_user_id__user_id__ref_stg_users_registered_"
)


def test_anonymous_exposure_then_materialize_succeeds(
    shopflow_home: Settings, redis_server: str, redis_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = use_experiments(monkeypatch, shopflow_home.home_dir, EXPERIMENT)
    monkeypatch.setenv("REDIS_URL", redis_server)
    get_settings.cache_clear()
    experiment = load_experiments(path).get("recs-anon")
    generate_shop(
        120, 10, 5, settings=shopflow_home, progress=False, experiments=[(experiment, {})]
    )

    from commerce import api_keys
    from commerce.db import migrate
    from serving.app import create_app

    migrate.upgrade()
    _, storefront_key = api_keys.create("publishable", "storefront")  # what a browser holds
    publish(redis_client)
    with TestClient(create_app()) as client:  # leaving it flushes the exposure log
        bearer = {"Authorization": f"Bearer {storefront_key}"}
        body = client.get(f"/recommendations/{VISITOR}", headers=bearer).json()
    assert body["experiment_key"] == "recs-anon" and body["items"]

    result = materialize_all(shopflow_home)
    assert result.success, failed_steps(result)
    with duckdb.connect(str(shopflow_home.warehouse_path), read_only=True) as con:
        exposed = con.execute(
            "select variant, impressions from fct_experiment_users "
            "where experiment_key = 'recs-anon' and user_id = ?",
            [VISITOR],
        ).fetchall()
        visitor = con.execute(
            "select registered_at is null from dim_users where user_id = ?", [VISITOR]
        ).fetchall()
        users = dict(
            con.execute(
                "select variant, count(*) from fct_experiment_users "
                "where experiment_key = 'recs-anon' group by 1"
            ).fetchall()
        )
        counted = dict(
            con.execute(
                "select variant, users from experiment_results where experiment_key = 'recs-anon'"
            ).fetchall()
        )
    assert exposed == [(body["variant"], 1)]
    assert visitor == [(True,)]  # in dim_users, never registered
    assert counted == users  # the results count every exposed user, the visitor too

    (check,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == UNREGISTERED_EXPOSURES
    ]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["dagster_dbt/failed_row_count"].value == 1  # the visitor's exposure
