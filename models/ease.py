"""EASE: the closed-form item-item linear autoencoder (Steck, WWW 2019).

B = argmin ||X - XB||^2 + lambda ||B||^2 with diag(B) = 0 has the closed form
P = (X^T X + lambda I)^-1, B = -P / diag(P) (column-wise), diag(B) = 0. Scores are X_u B.
The item x item inverse is dense: the catalog is capped to the ``max_items`` most popular items
(by interacting users); the others are never recommended by this model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.linalg import LinAlgError, cho_factor, cho_solve

from models.base import Recommender, State
from models.data import Catalog, Interactions


def ease_weights(x: sp.csr_matrix, lam: float) -> np.ndarray:
    """The EASE item-item matrix B (float32) of a user x item matrix ``x``."""
    gram = np.asarray((x.T @ x).todense(), dtype=np.float64)
    gram[np.diag_indices_from(gram)] += lam
    p: np.ndarray
    try:
        p = cho_solve(cho_factor(gram, overwrite_a=True), np.eye(len(gram)))
    except LinAlgError:  # not positive definite (lambda <= 0 and a singular gram)
        p = np.linalg.pinv(gram)
    b = -p / np.diag(p)[None, :]
    b[np.diag_indices_from(b)] = 0.0
    return b.astype(np.float32)


class EASE(Recommender):
    """Score(u, j) = sum_i x_ui B_ij with binary (or weighted) x."""

    name = "ease"

    def __init__(
        self, regularization: float = 250.0, max_items: int = 5_000, binary: bool = True
    ) -> None:
        super().__init__()
        if regularization <= 0:
            raise ValueError("regularization must be positive")
        self.regularization = float(regularization)
        self.max_items = int(max_items)
        self.binary = bool(binary)
        self.kept = np.zeros(0, dtype=np.int64)  # item indices with a row/column in B
        self.weights = np.zeros((0, 0), dtype=np.float32)

    def params(self) -> dict[str, Any]:
        return {
            "regularization": self.regularization,
            "max_items": self.max_items,
            "binary": self.binary,
        }

    def _input(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        x = sp.csr_matrix(matrix, dtype=np.float32)
        if self.binary:
            x = x.copy()
            x.data = np.ones_like(x.data)
        return x

    def _fit(self, data: Interactions, catalog: Catalog | None) -> None:
        x = self._input(data.matrix)
        users_per_item = np.asarray(x.getnnz(axis=0))
        active = np.flatnonzero(users_per_item > 0)
        if len(active) > self.max_items:
            order = np.argsort(-users_per_item[active], kind="stable")
            active = np.sort(active[order[: self.max_items]])
        self.kept = active.astype(np.int64)
        self.weights = ease_weights(x[:, self.kept], self.regularization)

    def _score_users(self, rows: np.ndarray) -> np.ndarray:
        assert self.user_items is not None
        out = np.full((len(rows), len(self.item_ids)), -np.inf, dtype=np.float32)
        if len(self.kept):
            x = self._input(self.user_items[rows])[:, self.kept]
            out[:, self.kept] = np.asarray(x @ self.weights)
        return out

    def _score_items(self, rows: np.ndarray) -> np.ndarray:
        out = np.full((len(rows), len(self.item_ids)), -np.inf, dtype=np.float32)
        pos = np.full(len(self.item_ids), -1, dtype=np.int64)
        pos[self.kept] = np.arange(len(self.kept))
        have = pos[rows] >= 0
        if have.any():
            block = self.weights[pos[rows[have]]]
            sub = np.full((int(have.sum()), len(self.item_ids)), -np.inf, dtype=np.float32)
            sub[:, self.kept] = np.where(block > 0, block, -np.inf)
            out[have] = sub
        return out

    def _state(self) -> State:
        return {"kept": self.kept, "weights": self.weights}

    def _restore(self, state: State) -> None:
        self.kept = np.asarray(state["kept"], dtype=np.int64)
        self.weights = np.asarray(state["weights"], dtype=np.float32)
