"""Content-based neighbours: TF-IDF over title, description, category, brand and a price band."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from models.base import BLOCK_FLOATS, Recommender, State
from models.data import Catalog, Interactions


def _slug(value: object) -> str:
    return re.sub(r"[^0-9a-z]+", "_", str(value).lower()).strip("_")


def price_band(price_minor: Any) -> str:
    """A token for the price's order of magnitude in half-powers of two of major units."""
    try:
        price = float(price_minor) / 100.0
    except (TypeError, ValueError):
        return "price_unknown"
    if not math.isfinite(price) or price <= 0:
        return "price_unknown"
    return f"price_b{round(2 * math.log2(price))}"


def item_text(row: pd.Series) -> str:
    """The document of one item: its words plus category, brand and price-band tokens."""
    tokens = [
        str(row.get("title", "") or ""),
        str(row.get("description", "") or ""),
        str(row.get("category", "") or ""),
        f"cat_{_slug(row.get('category', ''))}",
        f"brand_{_slug(row.get('brand', ''))}" if row.get("brand") else "",
        price_band(row.get("price_minor")),
    ]
    path = str(row.get("category_path", "") or "")
    tokens += [f"path_{_slug(part)}" for part in path.split(">") if part.strip()]
    return " ".join(t for t in tokens if t)


def sparse_top_k(x: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Cosine top-k neighbours of each row of an L2-normalised matrix, computed in blocks so a
    large catalog never needs a dense n x n matrix. The diagonal is left out."""
    n = x.shape[0]
    k = min(k, max(n - 1, 0))
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    block = max(1, BLOCK_FLOATS // max(n, 1))
    xt = x.T.tocsc()
    for start in range(0, n, block):
        stop = min(n, start + block)
        sims = np.asarray((x[start:stop] @ xt).todense(), dtype=np.float32)
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        if k == 0:
            continue
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        part_vals = np.take_along_axis(sims, part, axis=1)
        keep = part_vals > 0
        rows.append(np.repeat(np.arange(start, stop), k)[keep.ravel()])
        cols.append(part.ravel()[keep.ravel()])
        vals.append(part_vals.ravel()[keep.ravel()])
    if not rows:
        return sp.csr_matrix((n, n), dtype=np.float32)  # type: ignore[arg-type]  # scipy-stubs 1.17 rejects a shape with a float32 dtype
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, n),
        dtype=np.float32,
    )


class Content(Recommender):
    """Items are similar when their text is; users get neighbours of what they interacted with.
    Covers every catalog item, including new ones nobody has touched yet."""

    name = "content"

    def __init__(self, neighbours: int = 50, max_features: int = 50_000) -> None:
        super().__init__()
        self.neighbours = int(neighbours)
        self.max_features = int(max_features)
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)  # type: ignore[arg-type]  # scipy-stubs 1.17 rejects a shape with a float32 dtype

    def params(self) -> dict[str, Any]:
        return {"neighbours": self.neighbours, "max_features": self.max_features}

    def _fit(self, data: Interactions, catalog: Catalog | None) -> None:
        if catalog is None:
            raise ValueError("the content model needs the item catalog")
        items = catalog.items.reindex([str(i) for i in data.item_ids])
        docs = [item_text(row) for _, row in items.fillna("").iterrows()]
        vectorizer = TfidfVectorizer(
            sublinear_tf=True, max_features=self.max_features, token_pattern=r"(?u)\b\w+\b"
        )
        try:
            x = vectorizer.fit_transform(docs)
        except ValueError:  # every document empty
            x = sp.csr_matrix((len(docs), 1), dtype=np.float32)  # type: ignore[arg-type]  # scipy-stubs 1.17 rejects a shape with a float32 dtype
        self.similarity = sparse_top_k(sp.csr_matrix(x, dtype=np.float32), self.neighbours)

    def _score_users(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray((self._matrix[rows] @ self.similarity).todense())

    def _score_items(self, rows: np.ndarray) -> np.ndarray:
        dense = np.asarray(self.similarity[rows].todense())
        dense[dense == 0] = -np.inf
        return dense

    def _state(self) -> State:
        return {"similarity": self.similarity}

    def _restore(self, state: State) -> None:
        self.similarity = sp.csr_matrix(state["similarity"], dtype=np.float32)
