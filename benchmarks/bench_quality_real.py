"""Recommender quality on real data: MovieLens 100K (explicit 1-5 stars), scored on the
per-user temporal split (each user's latest 20 % of ratings held out; ratings >= 4 relevant;
items seen in train removed), as served: the champion's lists composed with the popularity
fallback exactly as publishing writes them (``models.served``).

The figure: served NDCG@10 as a ratio to the better baseline (popularity by train counts, and
implicit's ALS with library defaults, both scored on the same split in the same run), and next
to EASE with its default lambda. Target: >= 1.10x the better baseline, and >= EASE.

The data is not part of the repo: ``../shared/data/movielens-100k`` next to the repo root, or
``SHOPFLOW_MOVIELENS_DIR``. Without it the benchmark prints a skip line and returns.

The import step (:func:`import_ratings`) builds the ``fct_interactions`` rows directly (rating,
disliked, weight as the mart defines them); the CLI path (``shopflow import interactions
--rating-col rating --positive-threshold 4``, then ``shopflow materialize``) replaces it once
that importer lands. Everything after it is the pipeline's own code (``train_and_evaluate``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from models.evaluation import metric_table_markdown
from models.training import TrainingConfig, train_and_evaluate
from models.tuning import score_config

POSITIVE_THRESHOLD = 4.0
TARGET_VS_BASELINE = 1.10


def movielens_dir() -> Path:
    override = os.environ.get("SHOPFLOW_MOVIELENS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[1].parent / "shared/data/movielens-100k"


def import_ratings(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``u.data`` and ``u.item`` as the marts hold them: one row per (user, item) with the
    rating, ``disliked`` (rating below the threshold; such a rating adds no weight) and
    ``weight`` (the rating for positives), times in UTC; the catalog with title and genre."""
    ratings = pd.read_csv(folder / "u.data", sep="\t", names=["user_id", "item_id", "rating", "ts"])
    at = pd.to_datetime(ratings["ts"], unit="s", utc=True)
    disliked = ratings["rating"] < POSITIVE_THRESHOLD
    interactions = pd.DataFrame(
        {
            "user_id": ratings["user_id"].astype(str),
            "item_id": ratings["item_id"].astype(str),
            "rating": ratings["rating"].astype(float),
            "disliked": disliked,
            "weight": ratings["rating"].astype(float).where(~disliked, 0.0),
            "first_at": at,
            "last_at": at,
        }
    )
    genres = pd.read_csv(folder / "u.genre", sep="|", names=["genre", "id"])["genre"].tolist()
    raw = pd.read_csv(folder / "u.item", sep="|", header=None, encoding="latin-1")
    flags = raw.iloc[:, 5 : 5 + len(genres)].to_numpy(dtype=bool)
    items = pd.DataFrame(
        {
            "item_id": raw[0].astype(str),
            "title": raw[1].astype(str),
            "category": [
                next((g for g, f in zip(genres, row, strict=True) if f), "") for row in flags
            ],
            "description": [
                " ".join(g for g, f in zip(genres, row, strict=True) if f) for row in flags
            ],
        }
    )
    return interactions, items


def main() -> None:
    folder = movielens_dir()
    if not (folder / "u.data").exists():
        print(f"skip: MovieLens 100K not found at {folder} (set SHOPFLOW_MOVIELENS_DIR)")
        return
    t0 = time.perf_counter()
    interactions, items = import_ratings(folder)
    config = TrainingConfig()
    result = train_and_evaluate(interactions, items, config)
    prep = result.prepared
    assert prep is not None
    k = config.k
    fallback = prep.fallback(prep.test, config.depth)
    ease = score_config("ease", {}, prep.test, prep.catalog, fallback, k, config.depth)
    seconds = time.perf_counter() - t0
    best = result.best
    served = result.table[best]
    pop, als = result.baselines["popularity"], result.baselines["als_defaults"]
    best_baseline = max(pop["ndcg"], als["ndcg"])
    print(
        f"MovieLens 100K: {result.data.n_users:,} users x {result.data.n_items:,} items, "
        f"{result.data.nnz:,} ratings; {prep.describe()['split']}: "
        f"{len(prep.test.test_users)} test users; {seconds:.0f} s "
        f"(tuning budget {result.tuning_budget_s:g} s per kind)"
    )
    rows = {f"served:{k_}" if k_ == best else k_: v for k_, v in result.table.items()}
    rows |= {"baseline:popularity": pop, "baseline:als_defaults": als, "ref:ease_default": ease}
    print(metric_table_markdown(rows, k))
    print(f"champion (best on validation): {best} {result.params[best]}")
    print(f"served ndcg@{k}={served['ndcg']:.4f} recall@{k}={served['recall']:.4f}")
    print(f"popularity ndcg@{k}={pop['ndcg']:.4f} recall@{k}={pop['recall']:.4f}")
    print(f"als_defaults ndcg@{k}={als['ndcg']:.4f} recall@{k}={als['recall']:.4f}")
    print(f"ease (default lambda) ndcg@{k}={ease['ndcg']:.4f} recall@{k}={ease['recall']:.4f}")
    ratio = served["ndcg"] / best_baseline if best_baseline else float("inf")
    vs_ease = served["ndcg"] / ease["ndcg"] if ease["ndcg"] else float("inf")
    print(f"ratio served/best baseline NDCG@{k}: {ratio:.2f} (target >= {TARGET_VS_BASELINE})")
    print(f"ratio served/EASE NDCG@{k}: {vs_ease:.2f} (target >= 1.00)")
    verdict = ratio >= TARGET_VS_BASELINE and vs_ease >= 1.0
    print("target met" if verdict else "target NOT met")


if __name__ == "__main__":
    main()
