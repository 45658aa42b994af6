"""A small synthetic shop with latent structure, for tests and benchmarks that must not depend
on the warehouse: users prefer one category (taste), items have skewed popularity."""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY_S = 86_400


def synthetic_shop(
    n_users: int = 400,
    n_items: int = 200,
    n_categories: int = 8,
    interactions_per_user: int = 12,
    days: int = 30,
    taste: float = 0.85,
    seed: int = 7,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (interactions, items) frames shaped like the marts ``fct_interactions`` and
    ``dim_items``. A user draws ``taste`` of their items from their favourite category."""
    rng = np.random.default_rng(seed)
    item_cat = np.arange(n_items) % n_categories
    item_pop = rng.zipf(1.6, n_items).clip(1, 50).astype(float)
    user_cat = rng.integers(0, n_categories, n_users)
    start = pd.Timestamp("2025-01-01", tz="UTC").value // 10**9
    rows: list[tuple[str, str, float, int, int, int, int, int]] = []
    for u in range(n_users):
        in_cat = np.flatnonzero(item_cat == user_cat[u])
        out_cat = np.flatnonzero(item_cat != user_cat[u])
        n_in = rng.binomial(interactions_per_user, taste)
        picks = np.concatenate(
            [
                _draw(rng, in_cat, item_pop, n_in),
                _draw(rng, out_cat, item_pop, interactions_per_user - n_in),
            ]
        )
        for item in np.unique(picks):
            first = start + int(rng.integers(0, days * DAY_S))
            views = int(rng.integers(1, 4))
            carts = int(rng.random() < 0.3)
            buys = int(carts and rng.random() < 0.5)
            weight = views + 3.0 * carts + 5.0 * buys
            last = first + int(rng.integers(0, 2 * DAY_S))
            rows.append((f"u{u}", f"i{item}", weight, views, carts, buys, first, last))
    inter = pd.DataFrame(
        rows,
        columns=[
            "user_id", "item_id", "weight", "n_views", "n_carts", "n_purchases",
            "first_at", "last_at",
        ],
    )  # fmt: skip
    for column in ("first_at", "last_at"):
        inter[column] = pd.to_datetime(inter[column], unit="s", utc=True)
    words = [f"w{c}a w{c}b w{c}c w{c}d" for c in range(n_categories)]
    items = pd.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(n_items)],
            "title": [f"{words[c].split()[i % 4]} item {i}" for i, c in enumerate(item_cat)],
            "description": [words[c] for c in item_cat],
            "category": [f"cat{c}" for c in item_cat],
            "category_path": [f"root > cat{c}" for c in item_cat],
            "brand": [f"brand{i % 5}" for i in range(n_items)],
            "price_minor": rng.integers(500, 50_000, n_items),
            "currency": "USD",
            "stock": rng.integers(0, 100, n_items),
        }
    )
    return inter, items


def _draw(rng: np.random.Generator, pool: np.ndarray, pop: np.ndarray, n: int) -> np.ndarray:
    if n <= 0 or len(pool) == 0:
        return np.array([], dtype=np.int64)
    p = pop[pool] / pop[pool].sum()
    return rng.choice(pool, size=min(n, len(pool)), replace=False, p=p)
