"""Publish scoring on Spark (issue 16): an ALS trained on Spark is scored by Spark tasks that
write its lists to Redis under the publish's version; readers get the same lists a publish
on one machine writes, and the pointer flips once, after the tasks wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models.registry import ModelRef
from models.served import publish_lists
from models.spark_als import SparkALS
from models.synthetic import synthetic_shop
from models.training import prepare
from pipelines.publish import PublishBundle, RankedLists, current_version, publish, read_recs
from pipelines.spark_publish import SparkLists, scored_on_spark
from shopflow.config import get_settings
from shopflow.online_store import keys

pytestmark = pytest.mark.integration


def test_a_spark_model_is_scored_and_written_by_spark_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_server: str, redis_client
) -> None:
    monkeypatch.setenv("SHOPFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", redis_server)
    monkeypatch.setenv("SHOPFLOW_ALS_ENGINE", "spark")
    get_settings.cache_clear()
    interactions, items = synthetic_shop(n_users=200, n_items=120, n_categories=5, seed=3)
    data = prepare(interactions, items)[0]
    model = SparkALS(factors=8, iterations=5, seed=1).fit(data)
    users = [str(u) for u in data.user_ids] + ["stranger"]  # unknown: the popular fallback
    popular = [str(i) for i in data.item_ids[:30]]
    bought = {users[0]: {popular[0], popular[1]}, users[5]: {popular[2]}}
    blocked = {popular[3]}
    assert scored_on_spark(ModelRef("shopflow-als", "1", "als"), model)

    local = RankedLists(users, model.item_ids, *publish_lists(model, users, popular, 10, bought,
                                                             blocked))  # fmt: skip
    on_one_machine = publish(redis_client, PublishBundle(recs={"als": local}, purchased=bought))
    expected = {u: read_recs(redis_client, u, "als") for u in users}

    spark = SparkLists(model, users, popular, 10, bought, blocked, partitions=3)
    report = publish(redis_client, PublishBundle(recs={"als": spark}, purchased=bought))
    assert report.previous == on_one_machine.version
    assert current_version(redis_client) == report.version
    assert report.users == len(users) and report.keys_written == on_one_machine.keys_written
    got = {u: read_recs(redis_client, u, "als") for u in users}
    assert got == expected
    assert all(got[u] for u in users)
    assert not {popular[0], popular[1]} & {item for item, _ in got[users[0]] or []}
    assert all(popular[3] not in {item for item, _ in lists or []} for lists in got.values())
    meta = redis_client.hgetall(keys.publish_meta(report.version))
    assert meta["users"] == str(len(users))
    # the tasks name what they wrote in the version's index: its expiry needs no SCAN
    index = redis_client.lrange(keys.version_index(report.version), 0, -1)
    named = {name for batch in index for name in json.loads(batch)}
    assert {keys.user_recs(report.version, u, "als") for u in users} <= named


def test_only_an_als_trained_on_spark_is_scored_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("SHOPFLOW_ALS_ENGINE", "implicit")
    get_settings.cache_clear()
    interactions, items = synthetic_shop(n_users=60, n_items=40, n_categories=3, seed=4)
    data = prepare(interactions, items)[0]
    model = SparkALS(factors=4, iterations=2, seed=1).fit(data)
    assert not scored_on_spark(ModelRef("shopflow-als", "1", "als"), model)
    monkeypatch.setenv("SHOPFLOW_ALS_ENGINE", "spark")
    get_settings.cache_clear()
    assert scored_on_spark(ModelRef("shopflow-als", "1", "als"), model)
    assert not scored_on_spark(ModelRef("shopflow-bpr", "1", "bpr"), model)
