"""The recommender interface shared by every model type, plus save/load and top-k helpers."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp

from models.data import Catalog, Interactions

Scored = list[tuple[str, float]]
State = dict[str, np.ndarray | sp.csr_matrix]

#: Upper bound on floats in one dense score block (users x items), about 80 MB of float32.
BLOCK_FLOATS = 20_000_000


class NotFittedError(RuntimeError):
    """The model was used before ``fit`` or ``load``."""


class Recommender(ABC):
    """A model type. Subclasses implement ``_fit``, ``_score_users`` and ``_score_items`` (dense
    score blocks over all items) and ``_state``/``_restore``; batching, exclusion of seen items,
    top-k, NaN cleaning and id mapping live here."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self.user_ids: np.ndarray = np.array([], dtype=object)
        self.item_ids: np.ndarray = np.array([], dtype=object)
        self.user_items: sp.csr_matrix | None = None
        self.negatives: sp.csr_matrix | None = None  # known negatives: never recommended
        #: What a user is never shown again: the fitted pairs plus the known negatives.
        self.excluded: sp.csr_matrix | None = None
        self._user_index: dict[str, int] = {}
        self._item_index: dict[str, int] = {}

    # ---- to implement ------------------------------------------------------------------
    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Hyperparameters (JSON-serialisable); ``type(self)(**params)`` rebuilds the model."""

    @abstractmethod
    def _fit(self, data: Interactions, catalog: Catalog | None) -> None: ...

    @abstractmethod
    def _score_users(self, rows: np.ndarray) -> np.ndarray:
        """Dense (len(rows), n_items) scores of known users."""

    @abstractmethod
    def _score_items(self, rows: np.ndarray) -> np.ndarray:
        """Dense (len(rows), n_items) similarities of known items."""

    def _state(self) -> State:
        return {}

    def _restore(self, state: State) -> None:
        return None

    # ---- public API --------------------------------------------------------------------
    def fit(self, data: Interactions, catalog: Catalog | None = None) -> Self:
        """Fit on the positive pairs; disliked pairs (``data.negatives()``) are only excluded."""
        positives = data.positives()
        negatives = data.negatives() if data.has_negatives else None
        self._set_axes(data.user_ids, data.item_ids, positives.matrix, negatives)
        self._fit(positives, catalog)
        return self

    def user_row(self, user_id: str) -> int:
        """The user's row in the fitted matrices; -1 when unknown."""
        return self._user_index.get(user_id, -1)

    @property
    def fitted(self) -> bool:
        return self.user_items is not None

    @property
    def _matrix(self) -> sp.csr_matrix:
        """The fitted user x item matrix."""
        if self.user_items is None:
            raise RuntimeError(f"the {self.name} model is not fitted")
        return self.user_items

    def recommend(self, user_id: str, n: int = 10, exclude_seen: bool = True) -> Scored:
        return self.recommend_batch([user_id], n, exclude_seen)[0]

    def recommend_batch(
        self, user_ids: list[str], n: int = 10, exclude_seen: bool = True
    ) -> list[Scored]:
        """Top-n per user; an unknown user gets an empty list (see ``Hybrid`` for cold start)."""
        rows = np.array([self._user_index.get(u, -1) for u in user_ids], dtype=np.int64)
        out: list[Scored] = [[] for _ in user_ids]
        known = np.flatnonzero(rows >= 0)
        idx, scores = self.recommend_rows(rows[known], n, exclude_seen)
        for pos, i_row, s_row in zip(known, idx, scores, strict=True):
            out[pos] = self._to_ids(i_row, s_row)
        return out

    def similar(self, item_id: str, n: int = 10) -> Scored:
        return self.similar_batch([item_id], n)[0]

    def similar_batch(self, item_ids: list[str], n: int = 10) -> list[Scored]:
        rows = np.array([self._item_index.get(i, -1) for i in item_ids], dtype=np.int64)
        out: list[Scored] = [[] for _ in item_ids]
        known = np.flatnonzero(rows >= 0)
        idx, scores = self.similar_rows(rows[known], n)
        for pos, i_row, s_row in zip(known, idx, scores, strict=True):
            out[pos] = self._to_ids(i_row, s_row)
        return out

    def recommend_arrays(
        self, user_ids: list[str], n: int = 10, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n of any users as arrays: item indices into ``item_ids`` (-1 pads) and scores.
        Known users go through ``recommend_rows`` in blocks; unknown ones get what
        ``recommend_batch`` gives them (nothing for plain models, cold-start lists for the
        hybrid and popularity)."""
        self._check_fitted()
        rows = np.array([self._user_index.get(u, -1) for u in user_ids], dtype=np.int64)
        idx = np.full((len(user_ids), n), -1, dtype=np.int64)
        scores = np.zeros((len(user_ids), n), dtype=np.float32)
        known = rows >= 0
        if known.any():
            idx[known], scores[known] = self.recommend_rows(rows[known], n, exclude_seen)
        unknown = np.flatnonzero(~known)
        if len(unknown):
            lists = self.recommend_batch([user_ids[i] for i in unknown], n, exclude_seen)
            for pos, recs in zip(unknown, lists, strict=True):
                for j, (item, score) in enumerate(recs[:n]):
                    idx[pos, j], scores[pos, j] = self._item_index[item], score
        return idx, scores

    def similar_arrays(self, item_ids: list[str], n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-n neighbours of items as arrays (see ``recommend_arrays``); unknown items get
        none."""
        self._check_fitted()
        rows = np.array([self._item_index.get(i, -1) for i in item_ids], dtype=np.int64)
        idx = np.full((len(item_ids), n), -1, dtype=np.int64)
        scores = np.zeros((len(item_ids), n), dtype=np.float32)
        known = rows >= 0
        if known.any():
            idx[known], scores[known] = self.similar_rows(rows[known], n)
        return idx, scores

    def recommend_rows(
        self, rows: np.ndarray, n: int, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n item indices and scores for user rows; padding is index -1, score 0."""
        self._check_fitted()
        exclude = self.excluded if exclude_seen else self.negatives
        return self._top_blocks(rows, n, self._score_users, exclude, self_exclude=False)

    def similar_rows(self, rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-n neighbour item indices and scores for item rows (the item itself excluded)."""
        self._check_fitted()
        return self._top_blocks(rows, n, self._score_items, None, self_exclude=True)

    # ---- persistence -------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``model.json`` (type, params) and ``arrays.npz`` (ids, state) into a folder."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        manifest = {"type": self.name, "params": self.params()}
        (path / "model.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        state: State = {
            "user_ids": self.user_ids.astype(str),
            "item_ids": self.item_ids.astype(str),
            "user_items": self._matrix,
            **self._state(),
        }
        if self.negatives is not None:
            state["negatives"] = self.negatives
        np.savez_compressed(path / "arrays.npz", **_flatten(state))  # type: ignore[arg-type]  # numpy's stub reads **kwds as allow_pickle
        self._save_extra(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Self:
        path = Path(path)
        manifest = json.loads((path / "model.json").read_text())
        if manifest["type"] != cls.name:
            raise ValueError(f"{path} holds a {manifest['type']} model, not {cls.name}")
        model = cls(**manifest["params"])
        with np.load(path / "arrays.npz", allow_pickle=False) as arrays:
            state = _unflatten(arrays)
        stored = state.pop("negatives", None)
        negatives = None if stored is None else sp.csr_matrix(stored)
        model._set_axes(
            np.asarray(state.pop("user_ids")).astype(object),
            np.asarray(state.pop("item_ids")).astype(object),
            sp.csr_matrix(state.pop("user_items")),
            negatives,
        )
        model._restore(state)
        model._load_extra(path)
        return model

    def _save_extra(self, path: Path) -> None:
        return None

    def _load_extra(self, path: Path) -> None:
        return None

    # ---- helpers -----------------------------------------------------------------------
    def _set_axes(
        self,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        matrix: sp.csr_matrix | np.ndarray,
        negatives: sp.csr_matrix | None = None,
    ) -> None:
        self.user_ids = np.asarray(user_ids, dtype=object)
        self.item_ids = np.asarray(item_ids, dtype=object)
        self.user_items = sp.csr_matrix(matrix, dtype=np.float32)
        self.negatives = None if negatives is None else sp.csr_matrix(negatives, dtype=np.float32)
        # built once here, not per recommend_rows call (the hybrid calls each component's per
        # block of users)
        self.excluded = (
            self.user_items
            if self.negatives is None
            else (abs(self.user_items) + self.negatives).tocsr()
        )
        self._user_index = {str(u): i for i, u in enumerate(self.user_ids)}
        self._item_index = {str(t): i for i, t in enumerate(self.item_ids)}

    def _check_fitted(self) -> None:
        if self.user_items is None:
            raise NotFittedError(f"{self.name} model is not fitted")

    def _to_ids(self, idx: np.ndarray, scores: np.ndarray) -> Scored:
        return [
            (str(self.item_ids[i]), float(s)) for i, s in zip(idx, scores, strict=True) if i >= 0
        ]

    def _top_blocks(
        self,
        rows: np.ndarray,
        n: int,
        score: Any,
        exclude: sp.csr_matrix | None,
        self_exclude: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        n_items = len(self.item_ids)
        block = max(1, BLOCK_FLOATS // max(n_items, 1))
        all_idx = np.full((len(rows), n), -1, dtype=np.int64)
        all_scores = np.zeros((len(rows), n), dtype=np.float32)
        for start in range(0, len(rows), block):
            chunk = rows[start : start + block]
            scores = np.asarray(score(chunk), dtype=np.float32)
            if exclude is not None:
                mask_out(scores, exclude[chunk])
            if self_exclude:
                scores[np.arange(len(chunk)), chunk] = -np.inf
            idx, vals = top_k(scores, n)
            all_idx[start : start + len(chunk)] = idx
            all_scores[start : start + len(chunk)] = vals
        return all_idx, all_scores


def mask_out(scores: np.ndarray, exclude: sp.csr_matrix) -> None:
    """Set the scores of the stored entries of ``exclude`` (same shape) to -inf, in place."""
    coo = exclude.tocoo()
    scores[coo.row, coo.col] = -np.inf


def top_k(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-n of a dense block. NaN and -inf entries never appear: their slots get
    index -1 and score 0, so published scores are always finite."""
    scores = np.where(np.isnan(scores), -np.inf, scores)
    n_rows, n_items = scores.shape
    k = min(n, n_items)
    idx = np.full((n_rows, n), -1, dtype=np.int64)
    vals = np.zeros((n_rows, n), dtype=np.float32)
    if k == 0 or n_rows == 0:
        return idx, vals
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < n_items else None
    if part is None:
        part = np.tile(np.arange(n_items), (n_rows, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(part_scores, order, axis=1)
    valid = np.isfinite(best_scores)
    idx[:, :k] = np.where(valid, best, -1)
    vals[:, :k] = np.where(valid, best_scores, 0.0)
    return idx, vals


def _flatten(state: State) -> dict[str, np.ndarray]:
    flat: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if sp.issparse(value):
            csr = sp.csr_matrix(value)
            flat[f"{key}.csr_data"] = csr.data
            flat[f"{key}.csr_indices"] = csr.indices
            flat[f"{key}.csr_indptr"] = csr.indptr
            flat[f"{key}.csr_shape"] = np.asarray(csr.shape)
        else:
            flat[key] = np.asarray(value)
    return flat


def _unflatten(arrays: Any) -> State:
    state: State = {}
    for key in arrays.files:
        if key.endswith(".csr_data"):
            base = key[: -len(".csr_data")]
            state[base] = sp.csr_matrix(
                (arrays[key], arrays[f"{base}.csr_indices"], arrays[f"{base}.csr_indptr"]),
                shape=tuple(arrays[f"{base}.csr_shape"]),
            )
        elif ".csr_" not in key:
            state[key] = arrays[key]
    return state
