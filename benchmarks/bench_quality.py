"""The metric table of every model type, popularity baseline included, on one split of a
synthetic shop (``shopflow.generate.generate_shop`` when its marts are at hand is the goal;
this uses ``models.synthetic`` so it runs without the warehouse)."""

from __future__ import annotations

import time

from models.evaluation import metric_table_markdown
from models.synthetic import synthetic_shop
from models.training import TrainingConfig, train_and_evaluate


def main() -> None:
    interactions, items = synthetic_shop(n_users=3_000, n_items=800, n_categories=20, seed=11)
    t0 = time.perf_counter()
    config = TrainingConfig(tuning_budget_s=15, tuning_max_trials=6)
    result = train_and_evaluate(interactions, items, config)
    print(
        f"{result.split.kind}: {len(result.split.test_users)} test users, "
        f"{result.data.nnz:,} interactions, {time.perf_counter() - t0:.1f} s"
    )
    print(metric_table_markdown(result.table, config.k))
    base = result.table["popularity"]["ndcg"]
    for name in ("als", "hybrid"):
        print(f"ratio {name}/popularity NDCG@10: {result.table[name]['ndcg'] / base:.2f}")


if __name__ == "__main__":
    main()
