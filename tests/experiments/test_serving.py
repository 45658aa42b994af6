"""``GET /experiments`` and ``/recommendations`` under an experiment, against a real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from shopflow.config import Settings, get_settings
from shopflow.experiments import assign, load_experiments
from tests.serving.test_recommendations import auth, publish

RUNNING = """
experiments:
  - key: recs-test
    seed: s1
    status: running
    variants:
      - {key: control, weight: 0.5, strategy: champion}
      - {key: als, weight: 0.5, strategy: als}
  - key: not-yet
    status: draft
    variants:
      - {key: control, weight: 0.5, strategy: champion}
      - {key: hybrid, weight: 0.5, strategy: hybrid}
"""


@pytest.fixture
def experiments_file(shopflow_home: Settings, monkeypatch: pytest.MonkeyPatch):
    path = shopflow_home.home_dir / "experiments.yaml"
    path.write_text(RUNNING)
    monkeypatch.setenv("SHOPFLOW_EXPERIMENTS_FILE", str(path))
    get_settings.cache_clear()
    return path


@pytest.fixture
def app_client(
    experiments_file, redis_server: str, redis_client, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    from serving.app import create_app

    monkeypatch.setenv("REDIS_URL", redis_server)
    get_settings.cache_clear()
    publish(redis_client)
    with TestClient(create_app(), headers=auth("u1")) as client:
        yield client


def _exposures(settings: Settings) -> list[dict]:
    folder = settings.landing_dir / "rec_impression"
    return [row for f in sorted(folder.rglob("*.parquet")) for row in pq.read_table(f).to_pylist()]


def test_get_experiments_lists_the_running_ones(app_client):
    body = app_client.get("/experiments").json()
    assert [e["key"] for e in body["experiments"]] == ["recs-test"]
    exp = body["experiments"][0]
    assert exp["control"] == "control" and exp["hash_version"] == 2
    assert [(v["key"], v["weight"], v["strategy"]) for v in exp["variants"]] == [
        ("control", 0.5, "champion"),
        ("als", 0.5, "als"),
    ]


def test_variant_picks_strategy_and_exposure_is_logged(app_client, experiments_file):
    experiment = load_experiments(experiments_file).get("recs-test")
    expected = assign(experiment, "u1")
    first = app_client.get("/recommendations/u1").json()
    again = app_client.get("/recommendations/u1").json()
    assert (first["experiment_key"], first["variant"]) == ("recs-test", expected.variant)
    assert first["strategy"] == expected.strategy
    assert again["variant"] == first["variant"]  # sticky across requests
    if expected.strategy == "als":
        assert [i["item_id"] for i in first["items"]][:2] == ["i15", "i16"]

    explicit = app_client.get("/recommendations/u1", params={"strategy": "champion"}).json()
    assert explicit["experiment_key"] is None and explicit["strategy"] == "champion"

    app_client.__exit__(None, None, None)  # shutdown flushes the exposure buffer
    settings = get_settings()
    logged = _exposures(settings)
    assert len(logged) == 2  # the two experiment requests, not the explicit one
    assert {(r["user_id"], r["experiment_key"], r["variant"]) for r in logged} == {
        ("u1", "recs-test", expected.variant)
    }
    assert logged[0]["request_id"] == first["request_id"]
    assert logged[0]["item_ids"] == [i["item_id"] for i in first["items"]]


def test_broken_file_is_a_problem_but_recommendations_still_work(app_client, experiments_file):
    experiments_file.write_text(
        RUNNING.replace("weight: 0.5, strategy: als", "weight: 0.7, strategy: als")
    )
    response = app_client.get("/experiments")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "sum to 1" in response.json()["detail"]
    recs = app_client.get("/recommendations/u1").json()
    assert recs["experiment_key"] is None and recs["strategy"] == "champion"
