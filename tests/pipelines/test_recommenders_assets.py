"""The recommender assets end to end: tmp DuckDB marts -> MLflow (SQLite) -> real Redis."""

import dagster as dg
import duckdb
import pytest

from models.kinds import BATCH_STRATEGIES, MODEL_KINDS
from models.synthetic import synthetic_shop
from pipelines.assets.recommenders import ASSETS
from pipelines.publish import read_recs
from pipelines.resources import MLflowResource, RedisResource, WarehouseResource
from shopflow.config import get_settings
from shopflow.online_store import keys


@pytest.fixture
def home(shopflow_home, monkeypatch):
    monkeypatch.setenv("SHOPFLOW_RECS_TUNING_MAX_TRIALS", "2")
    # a budget that never binds: both runs try the same trials, so the second one ties
    monkeypatch.setenv("SHOPFLOW_RECS_TUNING_MIN_BUDGET_S", "600")
    monkeypatch.setenv("SHOPFLOW_RECS_TUNING_BUDGET_S", "600")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def _warehouse(settings, users: int, empty: bool = False):
    interactions, items = synthetic_shop(n_users=users, n_items=80, n_categories=4, seed=5)
    if empty:
        interactions = interactions.iloc[:0]
    interactions = interactions.rename(columns={"n_views": "views", "n_purchases": "purchases"})
    items = items.assign(blocked=items["item_id"] == "i1")  # a catalog that blocks one item
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.register("i", interactions)
        con.register("t", items)
        con.execute("create or replace table fct_interactions as select * from i")
        con.execute("create or replace table dim_items as select * from t")
    return interactions


def _run(settings, redis_url):
    resources = {
        "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        "redis": RedisResource(url=redis_url),
        "mlflow": MLflowResource(tracking_uri=settings.mlflow_uri),
    }
    result = dg.materialize(ASSETS, resources=resources)
    assert result.success

    def metadata(name):
        return result.asset_materializations_for_node(name)[0].metadata

    checks = {
        (e.asset_key.to_user_string(), e.check_name): e.passed
        for e in result.get_asset_check_evaluations()
    }
    for kind in MODEL_KINDS:
        assert metadata(f"recommender_{kind}")["mlflow_run_id"].value
    return metadata("recommender_evaluation"), metadata("published_recommendations"), checks


def test_assets_train_register_and_publish(home, redis_server, redis_client):
    interactions = _warehouse(home, users=150)
    evaluation, published, checks = _run(home, redis_server)
    table = evaluation["metrics"].value
    assert "| hybrid |" in table and "| ease |" in table
    assert "| baseline:popularity |" in table and "| baseline:als_defaults |" in table
    assert evaluation["baseline_als_defaults_ndcg@10"].value > 0
    assert all(checks[(f"recommender_{kind}", "trained")] for kind in MODEL_KINDS)
    assert evaluation["gate"].value == "promoted", evaluation["gate_reason"].value
    assert checks[("recommender_evaluation", "champion_gate")]
    assert evaluation["champion"].value == "shopflow-serving v1"
    assert published["keys"].value > 150 and published["keys_per_s"].value > 0
    version = published["version"].value
    meta = redis_client.hgetall(keys.publish_meta(version))
    assert meta["champion.model"] == "shopflow-serving" and meta["champion.version"] == "1"
    assert meta["hybrid.model"] == "shopflow-hybrid" and meta["als.version"] == "1"
    assert redis_client.hget(keys.item_info("i1"), "blocked") == "1"
    assert redis_client.hget(keys.item_info("i2"), "blocked") == "0"
    assert evaluation["tuning_budget_s_per_kind"].value > 0
    user = str(interactions["user_id"].iloc[0])
    recs = read_recs(redis_client, user)
    assert recs and len(recs) <= home.recs_top_n
    bought = set(interactions.loc[interactions["user_id"] == user, "item_id"])
    assert not bought & {item for item, _ in recs}
    for strategy in BATCH_STRATEGIES:
        assert read_recs(redis_client, user, strategy), strategy

    # a second run on the same data: same split, no better model -> champion stays
    evaluation, published, checks = _run(home, redis_server)
    assert evaluation["gate"].value == "rejected"
    assert "does not beat champion v1" in evaluation["gate_reason"].value
    assert not checks[("recommender_evaluation", "champion_gate")]
    assert evaluation["champion"].value == "shopflow-serving v1"
    assert published["previous_version"].value == version
    assert redis_client.ttl(keys.publish_meta(version)) > 0

    # an empty training set: nothing trained, the champion stays and still serves
    _warehouse(home, users=150, empty=True)
    evaluation, published, checks = _run(home, redis_server)
    assert evaluation["status"].value == "skipped"
    assert "champion unchanged" in evaluation["reason"].value
    assert "empty" in evaluation["reason"].value
    assert published["champion"].value == "shopflow-serving v1"


def test_tiny_marts_leave_the_champion_unchanged(home, redis_server, redis_client):
    _warehouse(home, users=3)
    evaluation, published, _ = _run(home, redis_server)
    assert evaluation["status"].value == "skipped"
    assert "champion unchanged" in evaluation["reason"].value
    assert published["status"].value == "skipped"
    assert redis_client.get(keys.PUBLISH_POINTER) is None


def test_the_run_prepares_once_and_a_failing_kind_does_not_block_the_others(
    home, redis_server, monkeypatch
):
    from models.factorization import BPR
    from pipelines.assets import recommenders

    def broken(self, data, catalog):
        raise RuntimeError("native loop crashed")

    reads = []
    load_marts = recommenders.load_marts
    monkeypatch.setattr(recommenders, "load_marts", lambda wh: reads.append(1) or load_marts(wh))
    monkeypatch.setattr(BPR, "_fit", broken)
    _warehouse(home, users=150)
    evaluation, published, checks = _run(home, redis_server)
    assert len(reads) == 2  # the training data once for every kind, and the publish
    assert not checks[("recommender_bpr", "trained")]
    others = set(MODEL_KINDS) - {"bpr"}
    assert all(checks[(f"recommender_{kind}", "trained")] for kind in others)
    assert evaluation["gate"].value == "promoted" and evaluation["best_model"].value != "bpr"
    assert "native loop crashed" in evaluation["failed_kinds"].value["bpr"]
    assert "| bpr |" not in evaluation["metrics"].value
    assert published["keys"].value > 0
