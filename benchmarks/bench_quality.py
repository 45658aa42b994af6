"""The metric table of every model type, popularity baseline included, on a shop made by the real
generator and taken through the pipeline's own path: ``generate_shop`` into a temporary
SHOPFLOW_HOME -> landing -> DuckDB raw -> dbt marts (``materialize_all``) -> the marts read as
the ``recommender_training_data`` asset reads them -> ``train_and_evaluate`` with the settings'
training config. Every kind is scored as served on the per-user temporal split, beside the
baselines (popularity by train counts, ALS with library defaults). The figures: NDCG@10 of ALS,
the hybrid and the champion (best on validation) as ratios to the better baseline."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from cli.commands.materialize import failed_steps, materialize_all
from models.evaluation import metric_table_markdown
from models.training import TrainingConfig, train_and_evaluate
from pipelines.assets.recommenders import load_marts
from pipelines.resources import WarehouseResource
from shopflow.config import Settings

USERS, DAYS, SEED = 1_500, 28, 11
WAREHOUSE = "key:raw_events or kind:dbt"


def main() -> None:
    from shopflow.generate import generate_shop

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp) / "home")
        settings.ensure_dirs()
        t0 = time.perf_counter()
        report = generate_shop(USERS, DAYS, SEED, settings=settings, progress=False)
        t1 = time.perf_counter()
        os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        result = materialize_all(settings, selection=WAREHOUSE)
        if not result.success:
            raise RuntimeError(f"warehouse steps failed: {failed_steps(result)}")
        t2 = time.perf_counter()
        interactions, items = load_marts(WarehouseResource(path=str(settings.warehouse_path)))
        config = TrainingConfig.from_settings(settings)
        trained = train_and_evaluate(interactions, items, config)
        t3 = time.perf_counter()
    print(
        f"generated {USERS:,} users x {DAYS} days (seed {SEED}): {report.total_events:,} events "
        f"in {t1 - t0:.1f} s; landing + dbt {t2 - t1:.1f} s; training {t3 - t2:.1f} s "
        f"(tuning budget {trained.tuning_budget_s:g} s)"
    )
    print(
        f"{trained.split.kind}: {len(trained.split.test_users)} test users, "
        f"{trained.data.n_users:,} users x {trained.data.n_items:,} items, "
        f"{trained.data.nnz:,} interactions"
    )
    baselines = {f"baseline:{n}": m for n, m in trained.baselines.items()}
    print(metric_table_markdown({**trained.table, **baselines}, config.k))
    base = max(m["ndcg"] for m in trained.baselines.values())
    for name in dict.fromkeys(("als", "hybrid", trained.best)):
        ratio = trained.table[name]["ndcg"] / base if base else float("inf")
        print(f"ratio {name}/best baseline NDCG@{config.k}: {ratio:.2f}")


if __name__ == "__main__":
    main()
