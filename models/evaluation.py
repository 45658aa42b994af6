"""Offline evaluation: the per-user temporal split (the main one), a global time split and
leave-last-out as other views, ranking metrics, and scoring of the served lists."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from models.base import Recommender
from models.data import DataError, Interactions
from models.served import compose

DAY_S = 86_400.0
METRICS = ("precision", "recall", "ndcg", "map", "hit_rate", "coverage", "novelty")


@dataclass
class Split:
    """Train interactions (same id axes as the full data) and the relevant held-out items per
    test user (held-out pairs not disliked). A test user may have no training history: it is
    scored through the fallback, as serving would answer it."""

    kind: str
    train: Interactions
    test_users: np.ndarray  # user row indices
    test_items: list[np.ndarray]  # relevant item indices per test user

    @property
    def fingerprint(self) -> str:
        """Identifies the split's content, so two runs can tell they used the same split."""
        digest = hashlib.sha256(self.kind.encode())
        digest.update(np.asarray(self.train.user_ids, dtype=str).tobytes())
        digest.update(np.asarray(self.train.item_ids, dtype=str).tobytes())
        digest.update(self.train.matrix.indptr.tobytes())
        digest.update(self.train.matrix.indices.tobytes())
        for users, items in zip(self.test_users, self.test_items, strict=True):
            digest.update(np.int64(users).tobytes() + np.asarray(items, np.int64).tobytes())
        return digest.hexdigest()[:16]


def _times(data: Interactions) -> np.ndarray:
    if data.first_at is not None:
        return data.first_at
    if data.last_at is not None:
        return data.last_at
    raise DataError("a time-based split needs first_at or last_at")


def _split(data: Interactions, test_mask: np.ndarray, kind: str, cold: bool = True) -> Split:
    """Held-out pairs are ``test_mask``; relevant ones are those not disliked. ``cold=False``
    leaves out test users without training pairs (leave-last-out's convention)."""
    coo = data.matrix.tocoo()
    train = data.subset(~test_mask)
    relevant = test_mask if data.disliked is None else test_mask & ~data.disliked
    rows, cols = coo.row[relevant], coo.col[relevant]
    if not cold:
        keep = (np.asarray(train.matrix.getnnz(axis=1)) > 0)[rows]
        rows, cols = rows[keep], cols[keep]
    order = np.argsort(rows, kind="stable")
    rows, cols = rows[order], cols[order]
    users, starts = np.unique(rows, return_index=True)
    test_items = np.split(cols, starts[1:]) if len(users) else []
    return Split(kind, train, users.astype(np.int64), [np.asarray(t) for t in test_items])


def per_user_split(data: Interactions, fraction: float = 0.2) -> Split:
    """Each user's latest ``fraction`` of pairs (by first interaction time, at least one,
    rounded half up) is held out. Users with a single pair have no training history and are
    scored through the fallback. Carve a validation split with ``per_user_split(split.train)``.
    """
    times = _times(data)
    coo = data.matrix.tocoo()
    if coo.nnz == 0:
        raise DataError("no interactions to split")
    item_rank = np.argsort(np.argsort(data.item_ids, kind="stable"))  # ties: by item id
    order = np.lexsort((item_rank[coo.col], times, coo.row))  # by user, then time, then item
    counts = np.bincount(coo.row, minlength=data.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    users = coo.row[order]
    position = np.arange(len(order)) - starts[users]
    n_test = np.maximum(1, np.floor(fraction * counts + 0.5)).astype(np.int64)
    mask = np.zeros(len(order), dtype=bool)
    mask[order] = position >= counts[users] - n_test[users]
    return _split(data, mask, f"per_user:{fraction:g}")


def sample_users(split: Split, n: int, seed: int = 0) -> Split:
    """The split restricted to ``n`` test users drawn at random (all when fewer): bounds the
    cost of scoring a tuning trial on large data."""
    if len(split.test_users) <= n:
        return split
    pick = np.sort(np.random.default_rng(seed).choice(len(split.test_users), n, replace=False))
    return Split(
        f"{split.kind}:sample{n}",
        split.train,
        split.test_users[pick],
        [split.test_items[i] for i in pick],
    )


def temporal_split(data: Interactions, holdout_days: float) -> Split:
    """Pairs first seen in the last ``holdout_days`` (before the newest event) are the test
    set (the global time view; users without training history get the fallback)."""
    times = _times(data)
    if len(times) == 0:
        raise DataError("no interactions to split")
    cutoff = times.max() - holdout_days * DAY_S
    return _split(data, times >= cutoff, f"temporal:{holdout_days:g}d")


def leave_last_out(data: Interactions) -> Split:
    """Each user's most recent pair is the test set (users with at least two pairs)."""
    times = _times(data)
    coo = data.matrix.tocoo()
    item_rank = np.argsort(np.argsort(data.item_ids, kind="stable"))  # ties: by item id
    order = np.lexsort((item_rank[coo.col], times, coo.row))  # by user, then time, then item
    last_of_user = np.r_[coo.row[order][1:] != coo.row[order][:-1], True]
    counts = np.bincount(coo.row, minlength=data.n_users)
    mask = np.zeros(len(times), dtype=bool)
    chosen = order[last_of_user]
    mask[chosen[counts[coo.row[chosen]] >= 2]] = True
    return _split(data, mask, "leave_last_out", cold=False)


# ---- per-user metrics ----------------------------------------------------------------------
def precision_at_k(recommended: Sequence[Any], relevant: set[Any], k: int) -> float:
    return sum(1 for r in recommended[:k] if r in relevant) / k


def recall_at_k(recommended: Sequence[Any], relevant: set[Any], k: int) -> float:
    if not relevant:
        return 0.0
    return sum(1 for r in recommended[:k] if r in relevant) / len(relevant)


def ndcg_at_k(recommended: Sequence[Any], relevant: set[Any], k: int) -> float:
    """Binary-relevance NDCG: DCG / ideal DCG with min(|relevant|, k) hits at the top."""
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(recommended[:k]) if r in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def average_precision_at_k(recommended: Sequence[Any], relevant: set[Any], k: int) -> float:
    """AP@k = sum of precision@i at each hit i, over min(|relevant|, k)."""
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for i, r in enumerate(recommended[:k], start=1):
        if r in relevant:
            hits += 1
            total += hits / i
    return total / min(len(relevant), k)


def hit_rate_at_k(recommended: Sequence[Any], relevant: set[Any], k: int) -> float:
    return 1.0 if any(r in relevant for r in recommended[:k]) else 0.0


def catalog_coverage(recommendations: Sequence[Sequence[Any]], n_items: int) -> float:
    """Share of the catalog that appears in at least one list."""
    if n_items == 0:
        return 0.0
    return len({r for recs in recommendations for r in recs}) / n_items


def novelty(
    recommendations: Sequence[Sequence[Any]], popularity: dict[Any, Any], n_users: int
) -> float:
    """Mean self-information -log2(p(item)) of recommended items, p = share of training users
    who interacted with the item (unseen items count as one user)."""
    values = [
        -math.log2(max(popularity.get(r, 0), 1) / max(n_users, 1))
        for recs in recommendations
        for r in recs
    ]
    return sum(values) / len(values) if values else 0.0


# ---- a model on a split --------------------------------------------------------------------
def evaluate(model: Recommender, split: Split, k: int = 10) -> dict[str, float]:
    """Metrics@k of a model fitted on ``split.train``, averaged over the test users."""
    idx, _ = model.recommend_rows(split.test_users, k, exclude_seen=True)
    return metrics_from_indices(idx, split, k)


def evaluate_served(
    model: Recommender,
    split: Split,
    fallback: np.ndarray,
    k: int = 10,
    depth: int = 50,
    unavailable: np.ndarray | None = None,
) -> dict[str, float]:
    """Metrics@k of the lists as served: ``compose`` of the model's top-``depth`` list (seen and
    disliked training pairs excluded) and the ``fallback`` item indices (the published popular
    list), with the same exclusions and unavailable items. Users unknown to the model or
    without training history get the fallback."""
    return metrics_from_indices(
        served_indices(model, split, fallback, k, depth, unavailable), split, k
    )


def served_indices(
    model: Recommender,
    split: Split,
    fallback: np.ndarray,
    k: int = 10,
    depth: int = 50,
    unavailable: np.ndarray | None = None,
) -> np.ndarray:
    """The (test users, k) item indices serving would show (see ``evaluate_served``)."""
    users = split.test_users
    warm = np.asarray(split.train.matrix.getnnz(axis=1))[users] > 0
    batch = np.full((len(users), max(depth, k)), -1, dtype=np.int64)
    scores = np.zeros(batch.shape, dtype=np.float32)
    if warm.any():
        batch[warm], scores[warm] = model.recommend_rows(users[warm], max(depth, k))
    idx, _ = compose(batch, fallback, k, exclusions(split.train)[users], unavailable, scores)
    return idx


def exclusions(data: Interactions) -> sp.csr_matrix:
    """What a user is never shown again: every stored pair (seen, disliked)."""
    return sp.csr_matrix(data.matrix, dtype=np.float32)


def metrics_from_indices(idx: np.ndarray, split: Split, k: int) -> dict[str, float]:
    """``metrics_from_lists`` of a (test users, n) array of item indices, -1 padded."""
    return metrics_from_lists([[int(i) for i in row if i >= 0] for row in idx], split, k)


def metrics_from_lists(lists: list[list[int]], split: Split, k: int) -> dict[str, float]:
    totals = dict.fromkeys(("precision", "recall", "ndcg", "map", "hit_rate"), 0.0)
    for recs, items in zip(lists, split.test_items, strict=True):
        relevant = set(items.tolist())
        totals["precision"] += precision_at_k(recs, relevant, k)
        totals["recall"] += recall_at_k(recs, relevant, k)
        totals["ndcg"] += ndcg_at_k(recs, relevant, k)
        totals["map"] += average_precision_at_k(recs, relevant, k)
        totals["hit_rate"] += hit_rate_at_k(recs, relevant, k)
    n = max(len(lists), 1)
    result = {name: value / n for name, value in totals.items()}
    item_users = np.asarray(split.train.matrix.getnnz(axis=0))
    popularity = {i: int(c) for i, c in enumerate(item_users)}
    result["coverage"] = catalog_coverage(lists, split.train.n_items)
    result["novelty"] = novelty(lists, popularity, split.train.n_users)
    return {name: float(np.nan_to_num(value)) for name, value in result.items()}


def metric_table_markdown(table: dict[str, dict[str, float]], k: int = 10) -> str:
    """Models x metrics as a Markdown table (rows sorted by NDCG, best first)."""
    header = "| model | " + " | ".join(f"{m}@{k}" for m in METRICS) + " |"
    lines = [header, "|---" * (len(METRICS) + 1) + "|"]
    for name, row in sorted(table.items(), key=lambda kv: -kv[1].get("ndcg", 0.0)):
        cells = " | ".join(f"{row.get(m, 0.0):.4f}" for m in METRICS)
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines)
