"""Matrix factorisation with ``implicit`` 0.7: ALS (confidence weights, optional BM25) and BPR."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight, tfidf_weight
from threadpoolctl import threadpool_limits

from models.base import Recommender, State
from models.data import Catalog, Interactions

#: Below this many interactions a fit runs on one thread: OpenMP's start-up and spin-waiting
#: cost more than the work (and a lot more on a busy machine).
SMALL_FIT_NNZ = 50_000


def fit_threads(nnz: int | None = None) -> int:
    """Threads for implicit's native loops: the cores we have (BLAS is held to one thread),
    or one for a small matrix."""
    if nnz is not None and nnz < SMALL_FIT_NNZ:
        return 1
    return max(1, os.cpu_count() or 1)


def confidence(
    matrix: sp.csr_matrix, bm25: bool, k1: float, b: float, tfidf: bool = False
) -> sp.csr_matrix:
    """The user x item confidence matrix fed to ALS (weights, or BM25 / TF-IDF over them)."""
    # the weightings weigh rows of an item x user matrix; transpose in and out
    if bm25:
        weighted: sp.csr_matrix = bm25_weight(matrix.T.tocsr(), K1=k1, B=b).T.tocsr()
        return weighted.astype(np.float32)
    if tfidf:
        tfidf_weighted: sp.csr_matrix = tfidf_weight(matrix.T.tocsr()).T.tocsr()
        return tfidf_weighted.astype(np.float32)
    return sp.csr_matrix(matrix, dtype=np.float32)


class _Factorization(Recommender):
    def __init__(self) -> None:
        super().__init__()
        self.user_factors = np.zeros((0, 0), dtype=np.float32)
        self.item_factors = np.zeros((0, 0), dtype=np.float32)

    def _score_users(self, rows: np.ndarray) -> np.ndarray:
        scores: np.ndarray = self.user_factors[rows] @ self.item_factors.T
        return scores

    def _score_items(self, rows: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(self.item_factors, axis=1)
        norms[norms == 0] = 1.0
        unit = self.item_factors / norms[:, None]
        similarities: np.ndarray = unit[rows] @ unit.T
        return similarities

    def _state(self) -> State:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _restore(self, state: State) -> None:
        self.user_factors = np.asarray(state["user_factors"], dtype=np.float32)
        self.item_factors = np.asarray(state["item_factors"], dtype=np.float32)

    def _keep_factors(self, model: Any) -> None:
        self.user_factors = np.nan_to_num(np.asarray(model.user_factors, dtype=np.float32))
        self.item_factors = np.nan_to_num(np.asarray(model.item_factors, dtype=np.float32))


class ALS(_Factorization):
    """Implicit-feedback ALS (Hu, Koren, Volinsky). Confidence = 1 + alpha * weight, the weight
    optionally BM25- or TF-IDF-weighted first."""

    name = "als"

    def __init__(
        self,
        factors: int = 32,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 15,
        bm25: bool = False,
        bm25_k1: float = 100.0,
        bm25_b: float = 0.8,
        seed: int = 42,
        tfidf: bool = False,
    ) -> None:
        super().__init__()
        self.tfidf = bool(tfidf)
        self.factors = int(factors)
        self.regularization = float(regularization)
        self.alpha = float(alpha)
        self.iterations = int(iterations)
        self.bm25 = bool(bm25)
        self.bm25_k1 = float(bm25_k1)
        self.bm25_b = float(bm25_b)
        self.seed = int(seed)

    def params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "regularization": self.regularization,
            "alpha": self.alpha,
            "iterations": self.iterations,
            "bm25": self.bm25,
            "bm25_k1": self.bm25_k1,
            "bm25_b": self.bm25_b,
            "tfidf": self.tfidf,
            "seed": self.seed,
        }

    def _fit(self, data: Interactions, catalog: Catalog | None) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        conf = confidence(data.matrix, self.bm25, self.bm25_k1, self.bm25_b, self.tfidf)
        with threadpool_limits(1, "blas"):  # implicit warns about (and suffers from) BLAS threads
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                random_state=self.seed,
                num_threads=fit_threads(data.nnz),
            )
            model.fit(conf, show_progress=False)
        self._keep_factors(model)


class BPR(_Factorization):
    """Bayesian personalised ranking (pairwise loss; weights only mark positives)."""

    name = "bpr"

    def __init__(
        self,
        factors: int = 32,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        seed: int = 42,
    ) -> None:
        super().__init__()
        self.factors = int(factors)
        self.learning_rate = float(learning_rate)
        self.regularization = float(regularization)
        self.iterations = int(iterations)
        self.seed = int(seed)

    def params(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "learning_rate": self.learning_rate,
            "regularization": self.regularization,
            "iterations": self.iterations,
            "seed": self.seed,
        }

    def _fit(self, data: Interactions, catalog: Catalog | None) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(
                factors=self.factors,
                learning_rate=self.learning_rate,
                regularization=self.regularization,
                iterations=self.iterations,
                random_state=self.seed,
                num_threads=fit_threads(data.nnz),
            )
            model.fit(sp.csr_matrix(data.matrix, dtype=np.float32), show_progress=False)
        self._keep_factors(model)
