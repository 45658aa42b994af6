"""Popularity with exponential time decay, global and per category."""

from __future__ import annotations

from typing import Any

import numpy as np

from models.base import Recommender, Scored, State, top_k
from models.data import Catalog, Interactions

DAY_S = 86_400.0


class Popularity(Recommender):
    """Item score = sum of interaction weights (or, with ``count``, of interacting users), each
    halved every ``half_life_days`` of age (age measured from the newest interaction in the
    data, so a fit is reproducible). ``half_life_days=None`` means no decay; training picks the
    half-life on the validation split (see ``models.tuning``) rather than assuming one."""

    name = "popularity"

    def __init__(self, half_life_days: float | None = None, count: bool = False) -> None:
        super().__init__()
        if half_life_days is not None and half_life_days <= 0:
            raise ValueError("half_life_days must be positive (or None: no decay)")
        self.half_life_days = None if half_life_days is None else float(half_life_days)
        self.count = bool(count)
        self.scores = np.zeros(0, dtype=np.float32)
        self.item_categories = np.array([], dtype=object)

    def params(self) -> dict[str, Any]:
        return {"half_life_days": self.half_life_days, "count": self.count}

    def _fit(self, data: Interactions, catalog: Catalog | None) -> None:
        coo = data.matrix.tocoo()
        weights = np.ones(len(coo.data)) if self.count else coo.data.astype(np.float64)
        if self.half_life_days is not None and data.last_at is not None and len(data.last_at):
            age_days = (data.last_at.max() - data.last_at) / DAY_S
            weights = weights * np.power(0.5, age_days / self.half_life_days)
        scores = np.bincount(coo.col, weights=weights, minlength=data.n_items)
        self.scores = np.nan_to_num(scores, nan=0.0).astype(np.float32)
        self.item_categories = (
            catalog.categories(data.item_ids)
            if catalog is not None
            else np.full(data.n_items, "", dtype=object)
        )

    def _score_users(self, rows: np.ndarray) -> np.ndarray:
        return np.tile(self.scores, (len(rows), 1))

    def _score_items(self, rows: np.ndarray) -> np.ndarray:
        """Popular items of the same category."""
        same = self.item_categories[rows][:, None] == self.item_categories[None, :]
        return np.where(same, self.scores[None, :], -np.inf).astype(np.float32)

    def top(self, n: int, category: str | None = None, exclude: set[str] | None = None) -> Scored:
        """Global (or one category's) most popular items with a positive score."""
        self._check_fitted()
        scores = np.where(self.scores > 0, self.scores, -np.inf)
        if category is not None:
            scores = np.where(self.item_categories == category, scores, -np.inf)
        if exclude:
            rows = [self._item_index[i] for i in exclude if i in self._item_index]
            scores[rows] = -np.inf
        idx, vals = top_k(scores[None, :].astype(np.float32), n)
        return self._to_ids(idx[0], vals[0])

    def top_indices(self, n: int) -> np.ndarray:
        """Item indices of the global top-``n`` (items with a positive score only)."""
        self._check_fitted()
        scores = np.where(self.scores > 0, self.scores, -np.inf).astype(np.float32)
        idx, _ = top_k(scores[None, :], n)
        top: np.ndarray = idx[0][idx[0] >= 0]
        return top

    def by_category(self, n: int) -> dict[str, Scored]:
        cats = sorted({str(c) for c in self.item_categories if c})
        return {c: self.top(n, category=c) for c in cats}

    def recommend_batch(
        self, user_ids: list[str], n: int = 10, exclude_seen: bool = True
    ) -> list[Scored]:
        """Known users get popular items they have not seen; unknown users the global list."""
        out = super().recommend_batch(user_ids, n, exclude_seen)
        fallback = self.top(n)
        return [
            recs if u in self._user_index else list(fallback)
            for u, recs in zip(user_ids, out, strict=True)
        ]

    def _state(self) -> State:
        return {"scores": self.scores, "item_categories": self.item_categories.astype(str)}

    def _restore(self, state: State) -> None:
        self.scores = np.asarray(state["scores"], dtype=np.float32)
        self.item_categories = np.asarray(state["item_categories"]).astype(object)
