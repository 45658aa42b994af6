"""Review spam classifier quality on the synthetic shop's labelled reviews: precision and
recall on a stratified held-out split (the split ``models.spam.train_and_evaluate`` uses),
against the text rules alone (links, SHOUTING) on the same held-out reviews.

The labels come the production way: ``shopflow generate`` lands review events, the raw
loader fills ``raw.review_*``, dbt builds ``stg_review_labels`` and the asset's reader
(``pipelines.assets.reviews.labelled_reviews``) reads it.

    .venv/bin/python -m benchmarks spam
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shopflow.config import Settings

USERS, DAYS, SEED = 16_000, 150, 3  # ~2,300 labelled reviews
TEST_SIZE, SPLIT_SEED = 0.25, 7
ROOT = Path(__file__).resolve().parent.parent
REVIEW_EVENTS = ("review.submitted", "review.approved", "review.rejected")


def build_labels(settings: Settings) -> None:
    import duckdb

    from pipelines.assets.reviews import LABELS_MODEL
    from pipelines.raw_load import ensure_tables, load_event_type

    with duckdb.connect(str(settings.warehouse_path)) as con:
        ensure_tables(con)
        for event_type in REVIEW_EVENTS:  # the model's sources; the rest of the shop is idle
            load_event_type(con, event_type, settings.landing_dir)
    work = Path(settings.home_dir) / "dbt"
    dbt = str(Path(sys.executable).parent / "dbt")
    env = os.environ | {
        "SHOPFLOW_WAREHOUSE_PATH": str(settings.warehouse_path),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    project = str(ROOT / "warehouse")
    subprocess.run(
        [dbt, "build", "--select", LABELS_MODEL, "--quiet", "--project-dir", project,
         "--profiles-dir", project, "--target-path", str(work / "target"),
         "--log-path", str(work / "logs")],
        env=env, cwd=project, check=True,
    )  # fmt: skip


def rules_predict(texts: list[str]) -> list[int]:
    """The text-only rules of ``commerce.reviews.spam`` (no neighbour signals), as a 0/1
    detector."""
    from commerce.reviews.spam import combine, rule_hits

    out = []
    for text in texts:
        hits = rule_hits(text, "", repeated_elsewhere=False, recent_by_user=1)
        out.append(int(combine(hits, None) >= 0.5))
    return out


def main() -> None:
    import duckdb
    import numpy as np
    from sklearn.metrics import precision_score, recall_score
    from sklearn.model_selection import train_test_split

    from models.spam import train_and_evaluate
    from pipelines.assets.reviews import labelled_reviews
    from shopflow.config import Settings
    from shopflow.generate import generate_shop

    with tempfile.TemporaryDirectory(prefix="bench-spam-") as tmp:
        settings = Settings(home=Path(tmp) / "home")
        settings.ensure_dirs()
        t0 = time.perf_counter()
        generate_shop(USERS, DAYS, SEED, settings=settings, progress=False)
        build_labels(settings)
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            texts, labels = labelled_reviews(con)
        prepared = time.perf_counter() - t0
    t1 = time.perf_counter()
    _, metrics = train_and_evaluate(texts, labels, test_size=TEST_SIZE, seed=SPLIT_SEED)
    trained = time.perf_counter() - t1
    y = np.asarray(labels)
    _, x_test, _, y_test = train_test_split(
        texts, y, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=y
    )
    predicted = rules_predict(x_test)
    r_precision = float(precision_score(y_test, predicted, zero_division=0))
    r_recall = float(recall_score(y_test, predicted, zero_division=0))

    def f1(p: float, r: float) -> float:
        return 2 * p * r / (p + r) if p + r else 0.0

    print(
        f"synthetic shop: {USERS:,} users x {DAYS} days (seed {SEED}): {len(labels):,} labelled "
        f"reviews, {sum(labels):,} spam ({metrics.spam_rate:.1%}); data {prepared:.0f} s, "
        f"training {trained:.1f} s"
    )
    print(f"held out: {metrics.n_test:,} reviews (stratified {TEST_SIZE:.0%}, seed {SPLIT_SEED})")
    clf_f1, rules_f1 = f1(metrics.precision, metrics.recall), f1(r_precision, r_recall)
    print(f"classifier  precision {metrics.precision:.3f}  recall {metrics.recall:.3f}  "
          f"F1 {clf_f1:.3f}")  # fmt: skip
    print(f"text rules  precision {r_precision:.3f}  recall {r_recall:.3f}  F1 {rules_f1:.3f}")
    if rules_f1:
        print(f"ratio classifier/rules F1: {clf_f1 / rules_f1:.2f}")


if __name__ == "__main__":
    main()
