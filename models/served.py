"""The served-list composition, shared by publishing and evaluation.

Serving (``serving.services.recommendations.recommend``) takes a user's published batch list,
drops unknown, blocked, out-of-stock and already-bought items, and backfills from the
published popular list under the same filters. Publishing writes, for every user with history,
``compose(model list, popular list)`` with the user's exclusions (seen, disliked, bought), so
the published list is already what serving shows; evaluation scores ``compose`` of a model
fitted on the training part, with the training part's exclusions, so it scores what is served.
A user without history gets the popular list (also through ``compose``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

if TYPE_CHECKING:
    from models.base import Recommender

#: Rows composed per block (bounds the candidate arrays' memory).
BLOCK_ROWS = 50_000


def _flag(value: Any) -> bool:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return False
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def unavailable_items(items: pd.DataFrame, item_ids: Sequence[Any] | np.ndarray) -> np.ndarray:
    """A bool per item of ``item_ids``: what serving filters out of any list (blocked, a
    tracked stock <= 0, or absent from the catalog: "unknown item")."""
    ids = items["item_id"].astype(str)
    bad = pd.Series(False, index=items.index)
    if "blocked" in items.columns:
        bad |= items["blocked"].map(_flag).astype(bool)
    if "stock" in items.columns:
        stock = pd.to_numeric(items["stock"], errors="coerce")
        bad |= stock.notna() & (stock <= 0)
    status = dict(zip(ids, bad.to_numpy(), strict=True))  # the last row of an id wins
    return np.array([bool(status.get(str(i), True)) for i in item_ids], dtype=bool)


def compose(
    batch_idx: np.ndarray,
    fallback: np.ndarray,
    n: int,
    exclude: sp.csr_matrix | None = None,
    unavailable: np.ndarray | None = None,
    batch_scores: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` items of each row's batch list followed by the fallback list, skipping
    padding (-1), items ``unavailable`` (a bool per item: blocked, out of stock), items the
    row's ``exclude`` entry holds (a rows x items matrix) and repeats.

    Returns item indices (-1 pads) and scores: the batch score for batch items, and for
    backfilled items a score below every batch score of the row (ranks stay readable)."""
    batch_idx = np.asarray(batch_idx, dtype=np.int64)
    if batch_idx.ndim == 1:
        batch_idx = batch_idx[:, None]
    fallback = np.asarray(fallback, dtype=np.int64)
    if batch_scores is None:
        batch_scores = np.zeros(batch_idx.shape, dtype=np.float32)
    out_idx = np.full((len(batch_idx), n), -1, dtype=np.int64)
    out_scores = np.zeros((len(batch_idx), n), dtype=np.float32)
    for start in range(0, len(batch_idx), BLOCK_ROWS):
        stop = min(start + BLOCK_ROWS, len(batch_idx))
        block_exclude = exclude[start:stop] if exclude is not None else None
        idx, scores = _compose_block(
            batch_idx[start:stop], np.asarray(batch_scores[start:stop], dtype=np.float32),
            fallback, n, block_exclude, unavailable,
        )  # fmt: skip
        out_idx[start:stop], out_scores[start:stop] = idx, scores
    return out_idx, out_scores


def _compose_block(
    batch_idx: np.ndarray,
    batch_scores: np.ndarray,
    fallback: np.ndarray,
    n: int,
    exclude: sp.csr_matrix | None,
    unavailable: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    rows = len(batch_idx)
    cand = np.concatenate([batch_idx, np.broadcast_to(fallback, (rows, len(fallback)))], axis=1)
    floor = np.where(batch_idx >= 0, batch_scores, np.inf).min(axis=1, initial=np.inf)
    floor = np.where(np.isfinite(floor), floor, 0.0)
    fill = floor[:, None] - 1.0 - np.arange(len(fallback), dtype=np.float32)[None, :]
    scores = np.concatenate([batch_scores, fill.astype(np.float32)], axis=1)
    valid = cand >= 0
    safe = np.where(valid, cand, 0)
    if unavailable is not None and len(unavailable):
        valid &= ~np.asarray(unavailable, dtype=bool)[safe]
    if exclude is not None and exclude.nnz:
        valid &= ~_member(exclude, safe)
    valid &= ~_repeats(np.where(valid, safe, -1))
    rank = np.cumsum(valid, axis=1) - 1
    keep = valid & (rank < n)
    idx = np.full((rows, n), -1, dtype=np.int64)
    vals = np.zeros((rows, n), dtype=np.float32)
    r, c = np.nonzero(keep)
    idx[r, rank[r, c]] = cand[r, c]
    vals[r, rank[r, c]] = scores[r, c]
    return idx, vals


def _member(matrix: sp.csr_matrix, items: np.ndarray) -> np.ndarray:
    """``matrix[r, items[r, j]] != 0`` for every entry."""
    coo = sp.coo_matrix(matrix)
    width = max(matrix.shape[1], int(items.max(initial=0)) + 1, 1)
    stored = coo.row.astype(np.int64) * width + coo.col
    wanted = np.arange(len(items), dtype=np.int64)[:, None] * width + items
    return np.isin(wanted, stored[coo.data != 0])


def _repeats(cand: np.ndarray) -> np.ndarray:
    """True where an item (>= 0) already appeared earlier in its row."""
    order = np.argsort(cand, axis=1, kind="stable")
    ordered = np.take_along_axis(cand, order, axis=1)
    dup_sorted = np.zeros(cand.shape, dtype=bool)
    dup_sorted[:, 1:] = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    dup = np.zeros(cand.shape, dtype=bool)
    np.put_along_axis(dup, order, dup_sorted, axis=1)
    return dup


def publish_lists(
    model: Recommender,
    users: list[str],
    fallback: list[str],
    n: int,
    exclude: dict[str, set[str]] | None = None,
    unavailable: set[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """What publishing writes per user: ``compose`` of the model's top-``n`` and the
    ``fallback`` item ids, skipping what the user saw or disliked (the model's matrices), each
    user's ``exclude`` items (bought, disliked since) and ``unavailable`` ones (blocked).
    Indices refer to ``model.item_ids``; a user the model does not know gets the fallback."""
    batch, scores = model.recommend_arrays(users, n)
    item_pos = {str(item): p for p, item in enumerate(model.item_ids.tolist())}
    fallback_idx = np.array([item_pos[i] for i in fallback if i in item_pos], dtype=np.int64)
    mask = np.zeros(len(model.item_ids), dtype=bool)
    for item in unavailable or ():
        if item in item_pos:
            mask[item_pos[item]] = True
    rows, cols = [], []
    user_pos = {u: r for r, u in enumerate(users)}
    for user, items in (exclude or {}).items():
        if user in user_pos:
            for item in items:
                if item in item_pos:
                    rows.append(user_pos[user])
                    cols.append(item_pos[item])
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)),
        shape=(len(users), len(model.item_ids)),
    )
    model_rows = np.array([model.user_row(u) for u in users], dtype=np.int64)
    known = np.flatnonzero(model_rows >= 0)
    if len(known) and model.excluded is not None:
        select = sp.csr_matrix(
            (np.ones(len(known), dtype=np.float32), (known, model_rows[known])),
            shape=(len(users), model.excluded.shape[0]),
        )
        matrix = (matrix + select @ abs(model.excluded)).tocsr()
    return compose(batch, fallback_idx, n, matrix, mask, scores)
