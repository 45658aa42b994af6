"""The pipeline's ALS step (interaction rows -> Interactions -> fitted ``models.ALS``) against a
raw ``implicit`` ALS fit on the same CSR matrix with the same params. Target ratio <= 1.2."""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from models.data import Interactions
from models.factorization import ALS, fit_threads
from models.synthetic import synthetic_shop

PARAMS = {"factors": 64, "regularization": 0.05, "alpha": 10.0, "iterations": 15}
REPEATS = 3


def _raw_fit(matrix) -> None:
    from implicit.cpu.als import AlternatingLeastSquares

    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(**PARAMS, random_state=42, num_threads=fit_threads())
        model.fit(matrix, show_progress=False)


def main() -> None:
    interactions, _ = synthetic_shop(
        n_users=20_000, n_items=5_000, n_categories=40, interactions_per_user=30, seed=1
    )
    matrix = Interactions.from_frame(interactions).matrix
    print(f"{len(interactions):,} interactions, {matrix.shape[0]:,} users x {matrix.shape[1]:,}")
    raw, ours = [], []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        _raw_fit(matrix)
        raw.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        data = Interactions.from_frame(interactions)
        ALS(**PARAMS).fit(data)
        ours.append(time.perf_counter() - t0)
    raw_s, ours_s = float(np.median(raw)), float(np.median(ours))
    print(f"baseline raw implicit ALS fit: {raw_s:.2f} s (median of {REPEATS})")
    print(f"pipeline ALS step (rows -> matrix -> fit): {ours_s:.2f} s")
    print(f"ratio pipeline/raw: {ours_s / raw_s:.2f} (target <= 1.2)")


if __name__ == "__main__":
    main()
