"""Hybrid: reciprocal rank fusion of the other models, with cold-start rules.

- a known user gets the weighted RRF of every component's ranking;
- a new user gets popularity, of the context category when one is given;
- a new item (no interactions yet) gets its content neighbours only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.base import Recommender, Scored
from models.data import Catalog, Interactions
from models.popularity import Popularity

DEFAULT_WEIGHTS = {"als": 1.0, "item_item": 1.0, "content": 0.3, "popularity": 0.3}


def reciprocal_rank_fusion(
    rankings: Sequence[tuple[float, Sequence[str]]], k: float = 60.0, n: int | None = None
) -> Scored:
    """Fuse ranked lists: score(item) = sum of weight / (k + rank), rank counted from 1.
    Ties keep the order of first appearance."""
    scores: dict[str, float] = {}
    for weight, ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    fused = sorted(scores.items(), key=lambda kv: -kv[1])
    return fused[:n] if n is not None else fused


class Hybrid(Recommender):
    name = "hybrid"

    def __init__(
        self,
        weights: dict[str, float] | None = None,
        rrf_k: float = 60.0,
        depth: int = 100,
        components: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.weights = dict(weights or DEFAULT_WEIGHTS)
        self.rrf_k = float(rrf_k)
        self.depth = int(depth)
        components = components or {}
        self.component_params = {name: dict(components.get(name, {})) for name in self.weights}
        self.models: dict[str, Recommender] = {}

    def params(self) -> dict[str, Any]:
        params = {name: m.params() for name, m in self.models.items()} or self.component_params
        return {
            "weights": self.weights,
            "rrf_k": self.rrf_k,
            "depth": self.depth,
            "components": params,
        }

    @classmethod
    def from_components(cls, models: dict[str, Recommender], **params: Any) -> Hybrid:
        """Compose already-fitted models (same data) without fitting them again."""
        hybrid = cls(**params)
        missing = set(hybrid.weights) - set(models)
        if missing:
            raise ValueError(f"hybrid needs fitted components {sorted(missing)}")
        hybrid.models = {name: models[name] for name in hybrid.weights}
        first = hybrid.models[next(iter(hybrid.weights))]
        hybrid._set_axes(first.user_ids, first.item_ids, first._matrix, first.negatives)
        return hybrid

    def _fit(self, data: Interactions, catalog: Catalog | None) -> None:
        from models.factory import build

        self.models = {
            name: build(name, self.component_params.get(name, {})).fit(data, catalog)
            for name in self.weights
        }

    @property
    def popularity(self) -> Popularity:
        model = self.models.get("popularity")
        if not isinstance(model, Popularity):
            raise ValueError("the hybrid has no popularity component for cold start")
        return model

    # ---- users -------------------------------------------------------------------------
    def _score_users(self, rows: np.ndarray) -> np.ndarray:
        fused = np.zeros((len(rows), len(self.item_ids)), dtype=np.float32)
        for name, weight in self.weights.items():
            if weight <= 0:
                continue
            idx, _ = self.models[name].recommend_rows(rows, self.depth, exclude_seen=True)
            self._add_ranks(fused, idx, weight)
        fused[fused == 0] = -np.inf
        return fused

    def recommend_batch(
        self,
        user_ids: list[str],
        n: int = 10,
        exclude_seen: bool = True,
        category: str | None = None,
    ) -> list[Scored]:
        out = super().recommend_batch(user_ids, n, exclude_seen)
        cold: Scored | None = None
        for pos, user_id in enumerate(user_ids):
            if user_id not in self._user_index:
                cold = cold if cold is not None else self.recommend_cold(n, category)
                out[pos] = list(cold)
        return out

    def recommend(
        self, user_id: str, n: int = 10, exclude_seen: bool = True, category: str | None = None
    ) -> Scored:
        return self.recommend_batch([user_id], n, exclude_seen, category)[0]

    def recommend_cold(self, n: int, category: str | None = None) -> Scored:
        """A new user: the context category's popular items, topped up with global ones."""
        recs = self.popularity.top(n, category=category) if category else []
        if len(recs) < n:
            seen = {item for item, _ in recs}
            recs += [r for r in self.popularity.top(n + len(seen)) if r[0] not in seen]
        return recs[:n]

    # ---- items -------------------------------------------------------------------------
    def _score_items(self, rows: np.ndarray) -> np.ndarray:
        fused = np.zeros((len(rows), len(self.item_ids)), dtype=np.float32)
        interacted = np.asarray(self._matrix.getnnz(axis=0))[rows] > 0
        for name, weight in self.weights.items():
            if name == "popularity":
                continue
            use = rows if name == "content" else rows[interacted]
            if len(use) == 0:
                continue
            idx, _ = self.models[name].similar_rows(use, self.depth)
            target = fused if name == "content" else fused[interacted]
            self._add_ranks(target, idx, weight)
            if name != "content":
                fused[interacted] = target
        fused[fused == 0] = -np.inf
        return fused

    def _add_ranks(self, fused: np.ndarray, idx: np.ndarray, weight: float) -> None:
        ranks = np.arange(1, idx.shape[1] + 1, dtype=np.float32)
        contrib = np.broadcast_to(weight / (self.rrf_k + ranks), idx.shape)
        r, c = np.nonzero(idx >= 0)
        np.add.at(fused, (r, idx[r, c]), contrib[r, c])

    # ---- persistence -------------------------------------------------------------------
    def _save_extra(self, path: Path) -> None:
        for name, model in self.models.items():
            model.save(path / "components" / name)

    def _load_extra(self, path: Path) -> None:
        from models.factory import load_model

        self.models = {name: load_model(path / "components" / name) for name in self.weights}


def fuse(
    rankings: dict[str, np.ndarray], weights: dict[str, float], rrf_k: float, n_items: int
) -> np.ndarray:
    """Weighted RRF of per-component top lists (rows x depth item indices, -1 pads) as a dense
    rows x items score block; items no component proposed score -inf."""
    rows = len(next(iter(rankings.values()))) if rankings else 0
    fused = np.zeros((rows, n_items), dtype=np.float32)
    for name, idx in rankings.items():
        weight = weights.get(name, 0.0)
        if weight <= 0:
            continue
        ranks = np.arange(1, idx.shape[1] + 1, dtype=np.float32)
        contrib = np.broadcast_to(weight / (rrf_k + ranks), idx.shape)
        r, c = np.nonzero(idx >= 0)
        np.add.at(fused, (r, idx[r, c]), contrib[r, c])
    fused[fused == 0] = -np.inf
    return fused
