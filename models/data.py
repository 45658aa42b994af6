"""Interaction data: string ids <-> matrix indices, the user x item CSR matrix and the catalog."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

INTERACTION_COLUMNS = ("user_id", "item_id", "weight")
ITEM_COLUMNS = ("item_id", "title", "description", "category", "brand", "price_minor")


class DataError(ValueError):
    """Interaction or catalog data that cannot be used (missing columns, no rows...)."""


@dataclass
class Interactions:
    """User x item interactions with their string ids.

    ``matrix`` holds confidence weights (float32 CSR, users as rows). ``first_at``/``last_at``
    hold the first/last interaction time of each stored pair in epoch seconds, aligned with
    ``matrix.data`` (used by temporal splits and time-decayed popularity). ``disliked``
    (aligned with ``matrix.data``, None for implicit-only data) marks known negatives: pairs
    whose latest explicit rating is below the positive threshold. They are never training
    positives (:meth:`positives`), never recommended back (:meth:`negatives`) and never
    relevant in evaluation.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    matrix: sp.csr_matrix
    last_at: np.ndarray | None = None
    first_at: np.ndarray | None = None
    disliked: np.ndarray | None = None
    _user_index: dict[str, int] = field(default_factory=dict, repr=False)
    _item_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._user_index = {u: i for i, u in enumerate(self.user_ids)}
        self._item_index = {t: i for i, t in enumerate(self.item_ids)}

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    def user_index(self, user_id: str) -> int | None:
        return self._user_index.get(user_id)

    def item_index(self, item_id: str) -> int | None:
        return self._item_index.get(item_id)

    @property
    def has_negatives(self) -> bool:
        return self.disliked is not None and bool(self.disliked.any())

    def positives(self) -> Interactions:
        """The pairs that count as positive feedback (every pair of implicit data)."""
        if not self.has_negatives:
            return self
        assert self.disliked is not None
        return self.subset(~self.disliked)

    def negatives(self) -> sp.csr_matrix:
        """Known negatives (disliked pairs) as a 0/1 matrix of the same shape."""
        if not self.has_negatives:
            none = np.zeros(0, dtype=np.int64)
            empty = (np.zeros(0, dtype=np.float32), (none, none))
            return sp.csr_matrix(empty, shape=self.matrix.shape)
        assert self.disliked is not None
        coo = self.matrix.tocoo()
        keep = self.disliked
        ones = np.ones(int(keep.sum()), dtype=np.float32)
        return sp.csr_matrix((ones, (coo.row[keep], coo.col[keep])), shape=self.matrix.shape)

    def user_items(self, user_id: str) -> list[str]:
        row = self.user_index(user_id)
        if row is None:
            return []
        start, end = self.matrix.indptr[row], self.matrix.indptr[row + 1]
        return [str(self.item_ids[i]) for i in self.matrix.indices[start:end]]

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        item_ids: np.ndarray | list[str] | None = None,
    ) -> Interactions:
        """Build from rows (user_id, item_id, weight[, first_at, last_at, disliked]); duplicate
        pairs are summed (first_at: min, last_at: max, disliked: any). Rows with a missing id or
        a weight <= 0 are left out unless disliked (a rating below the threshold adds nothing to
        the weight, and the pair is kept as a known negative). Users are sorted by id; so are
        items unless ``item_ids`` fixes the item axis (e.g.
        the whole catalog, so items without interactions still get an index), in which case
        interactions with unknown items are dropped.

        Ids are dictionary-encoded with Arrow and the CSR matrix is built from one sort of the
        (row, column) keys, without per-row Python work.
        """
        missing = [c for c in INTERACTION_COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(f"interactions lack columns {missing}")
        weights = pd.to_numeric(frame["weight"], errors="coerce").to_numpy(
            np.float64, na_value=np.nan
        )
        users_raw, items_raw = _strings(frame["user_id"]), _strings(frame["item_id"])
        times = {c: _epoch_seconds(frame[c]) for c in ("first_at", "last_at") if c in frame}
        if "disliked" in frame.columns:
            times["disliked"] = frame["disliked"].fillna(False).astype(bool).to_numpy(np.float64)
        disliked_rows = times.get("disliked", np.zeros(len(weights))) > 0
        weights = np.where(disliked_rows, np.nan_to_num(weights, nan=0.0), weights)
        positive = ~np.isnan(weights) & (weights > 0)
        valid = (positive | disliked_rows) & ~_nulls(users_raw) & ~_nulls(items_raw)
        if not valid.all():
            users_raw, items_raw = users_raw.filter(valid), items_raw.filter(valid)
            weights, times = weights[valid], {c: t[valid] for c, t in times.items()}
        users, user_pos = _encode(users_raw)
        if item_ids is None:
            items, item_pos = _encode(items_raw)
        else:
            items = np.asarray([str(i) for i in item_ids], dtype=object)
            item_pos = _positions(items_raw, items)
            known = item_pos >= 0
            if not known.all():
                user_pos, item_pos, weights = user_pos[known], item_pos[known], weights[known]
                times = {c: t[known] for c, t in times.items()}
        matrix, order, starts = _csr(user_pos, item_pos, weights, len(users), len(items))
        pair_times = {c: _reduce(t[order], starts, c) for c, t in times.items()}
        disliked = None
        if "disliked" in pair_times:
            disliked = pair_times["disliked"] > 0
            matrix.data[disliked & (matrix.data <= 0)] = 1.0  # stored, never a training weight
        return cls(
            users, items, matrix, pair_times.get("last_at"), pair_times.get("first_at"), disliked
        )

    def subset(self, mask: np.ndarray) -> Interactions:
        """Keep the stored pairs where ``mask`` (aligned with ``matrix.data``) is true."""
        coo = self.matrix.tocoo()
        matrix = sp.csr_matrix(
            (coo.data[mask], (coo.row[mask], coo.col[mask])), shape=self.matrix.shape
        )
        matrix.sort_indices()
        coo_order = np.lexsort((coo.col[mask], coo.row[mask]))  # CSR order of the kept pairs

        def keep(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[mask][coo_order]

        return Interactions(
            self.user_ids,
            self.item_ids,
            matrix,
            keep(self.last_at),
            keep(self.first_at),
            keep(self.disliked),
        )


def _strings(values: pd.Series) -> pa.Array:
    """A column of ids as an Arrow string array (numbers become their decimal text)."""
    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed Python objects
        arr = pa.array(values.map(lambda v: None if pd.isna(v) else str(v)), type=pa.string())  # type: ignore[misc, redundant-expr]  # pandas-stubs can't type this lambda over a Series of objects
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())
    return arr


def _nulls(arr: pa.Array) -> np.ndarray:
    return np.asarray(arr.is_null().to_numpy(zero_copy_only=False), dtype=bool)


def _encode(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values, position of each row's value in them; -1 for nulls)."""
    encoded = pc.dictionary_encode(arr)
    order = pc.array_sort_indices(encoded.dictionary).to_numpy(zero_copy_only=False)
    distinct = encoded.dictionary.take(order).to_numpy(zero_copy_only=False).astype(object)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return distinct, np.where(codes >= 0, rank[np.maximum(codes, 0)], -1)


def _positions(arr: pa.Array, axis: np.ndarray) -> np.ndarray:
    """Position of each row's value in ``axis`` (-1 when absent or null)."""
    encoded = pc.dictionary_encode(arr)
    lookup = pc.index_in(encoded.dictionary, value_set=pa.array(axis.tolist(), pa.string()))
    lookup_np = pc.fill_null(lookup, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.where(codes >= 0, lookup_np[np.maximum(codes, 0)], -1)


def _csr(
    rows: np.ndarray, cols: np.ndarray, weights: np.ndarray, n_rows: int, n_cols: int
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """A float32 CSR with sorted indices and duplicates summed, from one argsort of the pair
    keys. Also returns the sort order and the start of each distinct pair in it."""
    keys = rows.astype(np.int64) * max(n_cols, 1) + cols
    order = np.argsort(keys)
    sorted_keys = keys[order]
    new = np.ones(len(sorted_keys), dtype=bool)
    new[1:] = sorted_keys[1:] != sorted_keys[:-1]
    starts = np.flatnonzero(new)
    data = weights[order]
    if len(starts) < len(order):
        data = np.add.reduceat(data, starts)
    pair_keys = sorted_keys[starts]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(pair_keys // max(n_cols, 1), minlength=n_rows), out=indptr[1:])
    index_type = np.int32 if max(n_cols, len(starts)) < 2**31 else np.int64
    matrix = sp.csr_matrix(
        (
            data.astype(np.float32),
            (pair_keys % max(n_cols, 1)).astype(index_type),
            indptr.astype(index_type),
        ),
        shape=(n_rows, n_cols),
    )
    matrix.has_sorted_indices = True
    return matrix, order, starts


def _reduce(sorted_values: np.ndarray, starts: np.ndarray, column: str) -> np.ndarray:
    """One value per stored pair: the min (first_at) or max (last_at, disliked) of its rows."""
    if len(starts) == len(sorted_values) or len(starts) == 0:
        return sorted_values
    ufunc = np.minimum if column == "first_at" else np.maximum
    return ufunc.reduceat(sorted_values, starts)


def _epoch_seconds(values: pd.Series) -> np.ndarray:
    """UTC epoch seconds (float64); missing times become 0."""
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        values = pd.to_datetime(values, utc=True)
    stamps = pa.array(values.dt.tz_convert(None).to_numpy(), from_pandas=True)  # UTC, naive
    micros = pc.cast(pc.cast(stamps, pa.timestamp("us")), pa.int64())
    seconds: np.ndarray = pc.fill_null(micros, 0).to_numpy(zero_copy_only=False).astype(np.float64)
    return seconds / 1e6


@dataclass
class Catalog:
    """Item attributes used by content models and cold-start rules."""

    items: pd.DataFrame  # indexed by item_id (str)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Catalog:
        if "item_id" not in frame.columns:
            raise DataError("catalog lacks column item_id")
        frame = frame.copy()
        frame["item_id"] = frame["item_id"].astype(str)
        for column in ITEM_COLUMNS[1:]:
            if column not in frame.columns:
                frame[column] = 0 if column == "price_minor" else ""
        frame = frame.drop_duplicates("item_id", keep="last").set_index("item_id")
        return cls(frame)

    @property
    def item_ids(self) -> np.ndarray:
        return self.items.index.to_numpy(dtype=object)

    def categories(self, item_ids: np.ndarray) -> np.ndarray:
        cats = self.items["category"].reindex([str(i) for i in item_ids])
        return cats.fillna("").astype(str).to_numpy(dtype=object)
