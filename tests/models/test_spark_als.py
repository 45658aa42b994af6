"""ALS on Spark MLlib beside implicit's ALS: same matrix, same split, same parameters (the
defaults and the kind of values tuning picks), NDCG@10 within 10 %; the Spark model saves and
loads as the ``als`` kind; many iterations do not overflow; the setting (or the size) picks
the engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.data import Interactions
from models.evaluation import evaluate, per_user_split
from models.factorization import ALS
from models.factory import build, load_model
from models.spark_als import SparkALS, als_engine
from models.synthetic import synthetic_shop
from models.training import prepare
from shopflow.config import Settings, get_settings

PARAMS: dict[str, Any] = {
    "factors": 16,
    "regularization": 0.05,
    "alpha": 10.0,
    "iterations": 10,
    "seed": 1,
}
# as tuning picks them for implicit (MovieLens 100K): a strong penalty, small alpha, BM25
TUNED: dict[str, Any] = {
    "factors": 24,
    "regularization": 5.0,
    "alpha": 0.2,
    "iterations": 8,
    "bm25": True,
    "seed": 1,
}


@pytest.fixture(scope="module")
def data() -> Interactions:
    interactions, items = synthetic_shop(n_users=300, n_items=150, n_categories=6, seed=5)
    return prepare(interactions, items)[0]


@pytest.mark.parametrize("params", [PARAMS, TUNED], ids=["defaults", "tuned"])
def test_spark_als_ranks_as_well_as_implicit_on_the_same_split(
    data: Interactions, params: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPFLOW_HOME", str(tmp_path))
    get_settings.cache_clear()
    split = per_user_split(data, 0.2)
    implicit_ndcg = evaluate(ALS(**params).fit(split.train), split)["ndcg"]
    spark_model = SparkALS(**params).fit(split.train)
    spark_ndcg = evaluate(spark_model, split)["ndcg"]
    assert implicit_ndcg > 0.05  # both learned something, not a tie at zero
    assert abs(spark_ndcg - implicit_ndcg) <= 0.10 * implicit_ndcg, (spark_ndcg, implicit_ndcg)
    loaded = load_model(spark_model.save(tmp_path / "model"))
    user = str(split.train.user_ids[0])
    assert loaded.recommend(user, 10) == spark_model.recommend(user, 10)


def test_many_iterations_fit(
    data: Interactions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tuning tries up to 40 iterations: the lineage is checkpointed, so the fit neither
    overflows the JVM's stack nor fails the stage."""
    monkeypatch.setenv("SHOPFLOW_HOME", str(tmp_path))
    get_settings.cache_clear()
    model = SparkALS(**{**PARAMS, "factors": 4, "iterations": 40}).fit(data)
    assert np.isfinite(model.item_factors).all() and np.abs(model.item_factors).sum() > 0


def test_the_setting_or_the_size_picks_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    auto = Settings(als_engine="auto", als_spark_min_interactions=1000)
    assert als_engine(999, auto) == "implicit"
    assert als_engine(1000, auto) == "spark"
    assert als_engine(10**9, Settings(als_engine="implicit")) == "implicit"
    monkeypatch.setenv("SHOPFLOW_ALS_ENGINE", "spark")
    get_settings.cache_clear()
    assert isinstance(build("als", PARAMS, nnz=10), SparkALS)
    monkeypatch.setenv("SHOPFLOW_ALS_ENGINE", "implicit")
    get_settings.cache_clear()
    assert type(build("als", PARAMS, nnz=10)) is ALS
    monkeypatch.undo()
    get_settings.cache_clear()
