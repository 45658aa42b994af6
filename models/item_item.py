"""Item-item nearest neighbours over co-interactions (implicit's cosine or BM25 kNN)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import ItemItemRecommender, bm25_weight, normalize

from models.base import Recommender, State
from models.data import Catalog, Interactions
from models.factorization import fit_threads


class ItemItem(Recommender):
    """Score(user, j) = sum over the user's items i of weight(u, i) * sim(i, j), top-K sims."""

    name = "item_item"

    def __init__(self, neighbours: int = 50, weighting: str = "bm25") -> None:
        super().__init__()
        if weighting not in ("bm25", "cosine"):
            raise ValueError("weighting must be 'bm25' or 'cosine'")
        self.neighbours = int(neighbours)
        self.weighting = weighting
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)  # type: ignore[arg-type]  # scipy-stubs 1.17 rejects a shape with a float32 dtype

    def params(self) -> dict[str, Any]:
        return {"neighbours": self.neighbours, "weighting": self.weighting}

    def _fit(self, data: Interactions, catalog: Catalog | None) -> None:
        counts = sp.csr_matrix(data.matrix, dtype=np.float32)
        if self.weighting == "bm25":  # same weighting as implicit's BM25Recommender
            weighted = bm25_weight(counts.T, K1=1.2, B=0.75).T
        else:
            weighted = normalize(counts.T).T
        knn = ItemItemRecommender(K=self.neighbours + 1, num_threads=fit_threads(data.nnz))
        knn.fit(sp.csr_matrix(weighted), show_progress=False)
        sim = sp.csr_matrix(knn.similarity, dtype=np.float32)
        sim.data = np.nan_to_num(sim.data)
        self.similarity = sim

    def _score_users(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray((self._matrix[rows] @ self.similarity).todense())

    def _score_items(self, rows: np.ndarray) -> np.ndarray:
        dense = np.asarray(self.similarity[rows].todense())
        dense[dense == 0] = -np.inf  # only real neighbours
        return dense

    def _state(self) -> State:
        return {"similarity": self.similarity}

    def _restore(self, state: State) -> None:
        self.similarity = sp.csr_matrix(state["similarity"], dtype=np.float32)
