"""The synthetic catalog: items spread over the category tree, each with a brand (and its
price tier), log-normal price, stock, a Zipf-like popularity within its category and a
hidden quality that moves review ratings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from shopflow.synth import vocab
from shopflow.synth.columns import format_ids

TIERS = 3
TOP_N = 20  # most popular items per leaf (for recommendation impressions)


@dataclass
class Catalog:
    leaves: tuple[vocab.Leaf, ...]
    item_ids: pa.StringArray
    leaf: np.ndarray  # item -> leaf index
    tier: np.ndarray  # item -> price tier 0..2
    brand: list[str]
    title: list[str]
    description: list[str]
    price_minor: np.ndarray  # current price, int64 cents (mutated by price changes)
    stock: np.ndarray  # current stock, int64 (mutated by stock changes)
    popularity: np.ndarray  # within-leaf sampling weight
    quality: np.ndarray  # hidden rating offset
    leaf_weight: np.ndarray  # global share of each leaf in traffic
    queries: list[str]
    query_start: np.ndarray  # per leaf, first index into queries
    query_count: np.ndarray
    top_items: np.ndarray  # (leaves, TOP_N) item indices by popularity
    _leaf_cdf: np.ndarray
    _leaf_order: np.ndarray
    _seg_cdf: np.ndarray
    _seg_order: np.ndarray
    _seg_filled: np.ndarray

    @property
    def size(self) -> int:
        return len(self.leaf)

    def sample(
        self, rng: np.random.Generator, leaf: np.ndarray, tier: np.ndarray | None = None
    ) -> np.ndarray:
        """One item per entry of ``leaf``, by popularity; restricted to ``tier`` when given
        (falls back to the whole leaf where the leaf has no item of that tier)."""
        u = rng.random(len(leaf))
        if tier is None:
            return self._leaf_order[np.searchsorted(self._leaf_cdf, leaf + u, side="right")]
        seg = leaf * TIERS + tier
        filled = self._seg_filled[seg]
        out = self._leaf_order[
            np.minimum(np.searchsorted(self._leaf_cdf, leaf + u, side="right"), self.size - 1)
        ]
        pos = np.searchsorted(self._seg_cdf, seg[filled] + u[filled], side="right")
        out[filled] = self._seg_order[np.minimum(pos, self.size - 1)]
        return out


def _cdf(groups: np.ndarray, weights: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """A sorted array ``group + cumulative share`` and the item order it indexes."""
    order = np.lexsort((np.arange(len(groups)), groups))
    g = groups[order]
    w = weights[order]
    totals = np.bincount(g, weights=w, minlength=n_groups)
    cum = np.cumsum(w)
    starts = np.concatenate(([0.0], np.cumsum(totals)[:-1]))
    share = (cum - starts[g]) / totals[g]
    last = np.r_[g[1:] != g[:-1], True]
    share[last] = 1.0
    return g + share, order


def build_catalog(n_items: int, rng: np.random.Generator) -> Catalog:
    n_leaves = max(2, min(len(vocab.LEAVES), n_items // 4))
    leaves = vocab.LEAVES[:n_leaves]
    leaf_weight = rng.dirichlet(np.full(n_leaves, 3.0))
    size_weight = rng.dirichlet(np.full(n_leaves, 4.0))
    leaf = np.concatenate(
        [np.arange(n_leaves), rng.choice(n_leaves, size=n_items - n_leaves, p=size_weight)]
    )
    leaf = rng.permutation(leaf).astype(np.int64)
    tier = rng.choice(TIERS, size=n_items, p=[0.4, 0.4, 0.2])
    brand_pick = tier * 2 + rng.integers(0, 2, n_items)
    median = np.array([lf.median_usd for lf in leaves])[leaf]
    factor = np.array(vocab.TIER_PRICE_FACTOR)[tier]
    dollars = np.exp(rng.normal(np.log(median * factor), 0.35))
    price_minor = (np.maximum(np.floor(dollars), 0) * 100 + 99).astype(np.int64)
    stock = rng.negative_binomial(2, 0.04, n_items).astype(np.int64)
    stock[rng.random(n_items) < 0.06] = 0

    # Zipf-like popularity within each leaf: rank r (random order) gets 1 / (r + 1) ** 1.1.
    rank = np.empty(n_items, dtype=np.int64)
    order = np.lexsort((rng.random(n_items), leaf))
    starts = np.searchsorted(leaf[order], np.arange(n_leaves))
    rank[order] = np.arange(n_items) - starts[leaf[order]]
    popularity = 1.0 / (rank + 1.0) ** 1.1
    quality = rng.normal(0.0, 0.45, n_items).astype(np.float32)

    brand, title, description = _texts(leaves, leaf, brand_pick, rng)
    queries, query_start, query_count = _queries(leaves)
    top = np.empty((n_leaves, TOP_N), dtype=np.int64)
    for c in range(n_leaves):
        members = order[starts[c] : starts[c] + np.count_nonzero(leaf == c)][:TOP_N]
        top[c] = np.resize(members, TOP_N)

    leaf_cdf, leaf_order = _cdf(leaf, popularity, n_leaves)
    seg = leaf * TIERS + tier
    seg_cdf, seg_order = _cdf(seg, popularity, n_leaves * TIERS)
    seg_filled = np.bincount(seg, minlength=n_leaves * TIERS) > 0
    width = max(6, len(str(n_items - 1)))
    return Catalog(
        leaves=leaves,
        item_ids=format_ids(n_items, "i", (np.arange(n_items), width)),
        leaf=leaf,
        tier=tier,
        brand=brand,
        title=title,
        description=description,
        price_minor=price_minor,
        stock=stock,
        popularity=popularity,
        quality=quality,
        leaf_weight=leaf_weight,
        queries=queries,
        query_start=query_start,
        query_count=query_count,
        top_items=top,
        _leaf_cdf=leaf_cdf,
        _leaf_order=leaf_order,
        _seg_cdf=seg_cdf,
        _seg_order=seg_order,
        _seg_filled=seg_filled,
    )


def _texts(
    leaves: tuple[vocab.Leaf, ...],
    leaf: np.ndarray,
    brand_pick: np.ndarray,
    rng: np.random.Generator,
) -> tuple[list[str], list[str], list[str]]:
    """Brand, title and description per item (catalog-sized, so a plain loop is fine)."""
    n = len(leaf)
    noun_i = rng.integers(0, 1 << 30, n)
    feat_i = rng.integers(0, 1 << 30, (n, 3))
    suffix_i = rng.integers(0, len(vocab.MODEL_SUFFIXES), n)
    model_no = rng.integers(1, 100, n) * 10
    opener_i = rng.integers(0, len(vocab.DESCRIPTION_OPENERS), n)
    closer_i = rng.integers(0, len(vocab.DESCRIPTION_CLOSERS), n)
    brands, titles, descriptions = [], [], []
    for i in range(n):
        lf = leaves[leaf[i]]
        brand = vocab.BRANDS[lf.root][brand_pick[i]]
        noun = lf.nouns[noun_i[i] % len(lf.nouns)]
        f1, f2, f3 = (lf.features[k % len(lf.features)] for k in feat_i[i])
        suffix = vocab.MODEL_SUFFIXES[suffix_i[i]]
        model = f"{model_no[i]}{suffix}" if suffix else str(model_no[i])
        brands.append(brand)
        titles.append(f"{brand} {f1.title()} {noun.title()} {model}")
        opener = vocab.DESCRIPTION_OPENERS[opener_i[i]]
        descriptions.append(
            f"{opener} this {f1} {noun} by {brand} is {f2} with {f3}. "
            f"A {lf.name.lower()} pick for anyone who cares about {f2} and {f3}. "
            f"{vocab.DESCRIPTION_CLOSERS[closer_i[i]]}".strip()
        )
    return brands, titles, descriptions


def _queries(leaves: tuple[vocab.Leaf, ...]) -> tuple[list[str], np.ndarray, np.ndarray]:
    queries: list[str] = []
    start, count = [], []
    for lf in leaves:
        own = list(lf.nouns)
        own += [f"{feature} {lf.nouns[0]}" for feature in lf.features]
        own += [f"{modifier} {lf.nouns[0]}" for modifier in vocab.SEARCH_MODIFIERS]
        own += [f"{brand.lower()} {lf.nouns[0]}" for brand in vocab.BRANDS[lf.root][::2]]
        start.append(len(queries))
        count.append(len(own))
        queries += own
    return queries, np.array(start), np.array(count)


def upserted_payload(catalog: Catalog) -> dict[str, object]:
    """Payload columns of the ``product.upserted`` events of the whole catalog."""
    leaf_names = [lf.name for lf in catalog.leaves]
    leaf_paths = [lf.path for lf in catalog.leaves]
    return {
        "item_id": catalog.item_ids,
        "title": pa.array(catalog.title, pa.string()),
        "description": pa.array(catalog.description, pa.string()),
        "category": pa.array(leaf_names).take(pa.array(catalog.leaf)),
        "category_path": pa.array(leaf_paths).take(pa.array(catalog.leaf)),
        "brand": pa.array(catalog.brand, pa.string()),
        "price_minor": catalog.price_minor.copy(),
        "currency": "USD",
        "stock": catalog.stock.copy(),
    }
