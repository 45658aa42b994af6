"""The pipeline's ALS step (mart rows with string ids -> ``Interactions`` -> fitted
``models.ALS``) against a raw ``implicit`` ALS fit on the same CSR matrix. Target ratio <= 1.2.

Fair by construction: the same params, seed and thread count (BLAS held to one thread on both
sides), one warm-up run of each, then interleaved repeats; the figure is best-of-N of each side
(the least disturbed run on a shared machine), with the medians printed beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from models.data import Interactions
from models.factorization import ALS, fit_threads

PARAMS: dict[str, Any] = {"factors": 64, "regularization": 0.05, "alpha": 10.0, "iterations": 15}
SEED = 42
REPEATS = 3
N_USERS, N_ITEMS, PER_USER = 20_000, 5_000, 30


def interaction_rows(seed: int = 1) -> pd.DataFrame:
    """Mart-shaped rows (one per user-item pair, string ids, times) with skewed item
    popularity, generated vectorised so the benchmark's time goes to what it measures."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(N_USERS), PER_USER)
    items = (rng.zipf(1.3, len(users)) + rng.integers(0, N_ITEMS, len(users))) % N_ITEMS
    frame = pd.DataFrame({"u": users, "i": items}).drop_duplicates()
    first = pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 30 * 86_400, len(frame)), unit="s"
    )
    return pd.DataFrame(
        {
            "user_id": "u" + frame["u"].astype(str),
            "item_id": "i" + frame["i"].astype(str),
            "weight": rng.integers(1, 12, len(frame)).astype(float),
            "first_at": first,
            "last_at": first + pd.to_timedelta(rng.integers(0, 86_400, len(frame)), unit="s"),
        }
    )


def raw_fit(matrix: Any) -> None:
    from implicit.cpu.als import AlternatingLeastSquares

    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(**PARAMS, random_state=SEED, num_threads=fit_threads())
        model.fit(matrix, show_progress=False)


def pipeline_fit(rows: pd.DataFrame) -> None:
    ALS(**PARAMS, seed=SEED).fit(Interactions.from_frame(rows))


def _timed(fn: Callable[[Any], object], arg: Any) -> float:
    t0 = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t0


def main() -> None:
    rows = interaction_rows()
    matrix = Interactions.from_frame(rows).matrix  # the same CSR the pipeline step builds
    print(f"{len(rows):,} interactions, {matrix.shape[0]:,} users x {matrix.shape[1]:,} items")
    print(f"ALS {PARAMS}, {fit_threads()} threads, best of {REPEATS} after one warm-up each")
    raw_fit(matrix)  # warm-up: imports, thread pool, page cache
    pipeline_fit(rows)
    raw, ours = [], []
    for _ in range(REPEATS):
        raw.append(_timed(raw_fit, matrix))
        ours.append(_timed(pipeline_fit, rows))
    convert = min(_timed(Interactions.from_frame, rows) for _ in range(REPEATS))
    print(f"baseline raw implicit ALS fit: {min(raw):.2f} s (median {np.median(raw):.2f})")
    print(f"pipeline ALS step (rows -> matrix -> fit): {min(ours):.2f} s "
          f"(median {np.median(ours):.2f}; rows -> matrix alone {convert:.2f} s)")  # fmt: skip
    print(f"ratio pipeline/raw: {min(ours) / min(raw):.2f} (target <= 1.2; "
          f"medians {np.median(ours) / np.median(raw):.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
