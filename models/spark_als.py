"""ALS on Spark MLlib (``pyspark.ml.recommendation.ALS``, implicit preferences): the same
model as :class:`models.factorization.ALS` trained on a Spark cluster, for interaction matrices
past one machine. It keeps the factors the same way, so it saves, loads, scores, registers
and is gated as the ``als`` kind; only the fit runs on Spark (the session of
``shopflow.spark``). ``choose_als`` picks the engine from the settings."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from models.base import Recommender
from models.data import Catalog, Interactions
from models.factorization import ALS, _Factorization
from shopflow.config import Settings, get_settings
from shopflow.spark import spark_session


class SparkALS(_Factorization):
    """Implicit-feedback ALS on MLlib: confidence = 1 + alpha * weight, as in implicit."""

    name = "als"

    def __init__(
        self,
        factors: int = 32,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 15,
        seed: int = 42,
        **_implicit_only: Any,  # bm25/tfidf weighting of the implicit ALS: not on Spark
    ) -> None:
        super().__init__()
        self.factors = int(factors)
        self.regularization = float(regularization)
        self.alpha = float(alpha)
        self.iterations = int(iterations)
        self.seed = int(seed)

    def params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
            "seed": self.seed,
        }

    def _fit(self, data: Interactions, catalog: Catalog | None) -> None:
        from pyspark.ml.recommendation import ALS as MLlibALS

        spark = spark_session()
        coo = data.matrix.tocoo()
        pairs = pd.DataFrame(
            {
                "user": coo.row.astype("int32"),
                "item": coo.col.astype("int32"),
                "weight": coo.data.astype("float32"),
            }  # fmt: skip
        )
        frame = spark.createDataFrame(pairs)
        # MLlib scales regParam by each user's/item's count of pairs (ALS-WR), implicit does not
        model = MLlibALS(
            rank=self.factors,
            maxIter=self.iterations,
            regParam=self.regularization,
            alpha=self.alpha,
            implicitPrefs=True,
            userCol="user",
            itemCol="item",
            ratingCol="weight",
            seed=self.seed,
            coldStartStrategy="drop",
        ).fit(frame)
        self.user_factors = _dense(model.userFactors.toPandas(), data.n_users, self.factors)
        self.item_factors = _dense(model.itemFactors.toPandas(), data.n_items, self.factors)


def _dense(factors: pd.DataFrame, rows: int, rank: int) -> np.ndarray:
    """MLlib's (id, features) rows as a dense matrix; ids it never saw stay zero."""
    out = np.zeros((rows, rank), dtype=np.float32)
    if len(factors):
        out[factors["id"].to_numpy()] = np.array(factors["features"].tolist(), dtype=np.float32)
    return out


def als_engine(nnz: int, settings: Settings | None = None) -> str:
    """``spark`` or ``implicit`` for a matrix of ``nnz`` interactions (``als_engine=auto``:
    Spark from ``als_spark_min_interactions`` up)."""
    settings = settings or get_settings()
    if settings.als_engine != "auto":
        return settings.als_engine
    return "spark" if nnz >= settings.als_spark_min_interactions else "implicit"


def choose_als(nnz: int, params: dict[str, Any] | None = None) -> Recommender:
    """The ALS the settings pick for this many interactions, built from ``params``."""
    cls = SparkALS if als_engine(nnz) == "spark" else ALS
    return cls(**(params or {}))
