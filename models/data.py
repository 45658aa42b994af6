"""Interaction data: string ids <-> matrix indices, the user x item CSR matrix and the catalog."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
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
    ``matrix.data`` (used by temporal splits and time-decayed popularity).
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    matrix: sp.csr_matrix
    last_at: np.ndarray | None = None
    first_at: np.ndarray | None = None
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
        """Build from rows (user_id, item_id, weight[, last_at]); duplicate pairs are summed.

        ``item_ids`` fixes the item axis (e.g. the whole catalog, so items without
        interactions still get an index); interactions with unknown items are dropped.
        """
        missing = [c for c in INTERACTION_COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(f"interactions lack columns {missing}")
        frame = frame.dropna(subset=list(INTERACTION_COLUMNS))
        frame = frame[frame["weight"].astype(float) > 0]
        users = np.asarray(sorted(frame["user_id"].astype(str).unique()), dtype=object)
        if item_ids is None:
            items = np.asarray(sorted(frame["item_id"].astype(str).unique()), dtype=object)
        else:
            items = np.asarray([str(i) for i in item_ids], dtype=object)
        user_pos = pd.Index(users).get_indexer(frame["user_id"].astype(str))
        item_pos = pd.Index(items).get_indexer(frame["item_id"].astype(str))
        keep = item_pos >= 0
        weights = frame["weight"].to_numpy(dtype=np.float32)[keep]
        matrix = sp.csr_matrix(
            (weights, (user_pos[keep], item_pos[keep])),
            shape=(len(users), len(items)),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        matrix.sort_indices()
        rows, cols = user_pos[keep], item_pos[keep]
        times = {
            column: _pair_times(frame[column], keep, rows, cols, how)
            for column, how in (("last_at", "max"), ("first_at", "min"))
            if column in frame.columns
        }
        return cls(users, items, matrix, times.get("last_at"), times.get("first_at"))

    def subset(self, mask: np.ndarray) -> Interactions:
        """Keep the stored pairs where ``mask`` (aligned with ``matrix.data``) is true."""
        coo = self.matrix.tocoo()
        matrix = sp.csr_matrix(
            (coo.data[mask], (coo.row[mask], coo.col[mask])), shape=self.matrix.shape
        )
        matrix.sort_indices()
        last_at = self.last_at[mask] if self.last_at is not None else None
        first_at = self.first_at[mask] if self.first_at is not None else None
        return Interactions(self.user_ids, self.item_ids, matrix, last_at, first_at)


def _pair_times(
    values: pd.Series, keep: np.ndarray, rows: np.ndarray, cols: np.ndarray, how: str
) -> np.ndarray:
    """One time per stored pair (min or max over duplicates), in CSR data order."""
    seconds = np.nan_to_num(_epoch_seconds(values)[keep], nan=0.0)
    order = np.lexsort((cols, rows))
    if len(order) < 2 or np.all(
        (np.diff(rows[order]) != 0) | (np.diff(cols[order]) != 0)
    ):  # one row per pair (the mart's shape): sorting is enough
        return seconds[order]
    grouped = pd.DataFrame({"r": rows, "c": cols, "t": seconds}).groupby(["r", "c"], sort=True)
    return grouped["t"].agg(how).to_numpy(dtype=np.float64)


def _epoch_seconds(values: pd.Series) -> np.ndarray:
    stamps = pd.to_datetime(values, utc=True)
    return (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)


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
