"""Bounded random search over hyperparameters, within a time budget."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from models.data import Catalog
from models.evaluation import Split, evaluate
from models.factory import build

SEARCH_SPACES: dict[str, dict[str, list[Any]]] = {
    "als": {
        "factors": [16, 32, 64],
        "regularization": [0.01, 0.05, 0.1, 0.5],
        "alpha": [1.0, 5.0, 10.0, 20.0, 40.0],
        "iterations": [10, 15, 25],
    },
    "bpr": {
        "factors": [16, 32, 64],
        "learning_rate": [0.01, 0.05, 0.1],
        "regularization": [0.001, 0.01, 0.1],
        "iterations": [50, 100, 200],
    },
}


@dataclass
class Trial:
    params: dict[str, Any]
    metrics: dict[str, float]
    seconds: float


def candidates(
    space: dict[str, list[Any]], base: dict[str, Any], seed: int
) -> list[dict[str, Any]]:
    """The base params first, then every other grid point in a seeded random order."""
    names = sorted(space)
    grid = [
        dict(zip(names, values, strict=True))
        for values in itertools.product(*(space[name] for name in names))
    ]
    random.Random(seed).shuffle(grid)
    first = {**base}
    rest = [{**base, **point} for point in grid]
    return [first] + [p for p in rest if p != first]


def tune(
    model_type: str,
    split: Split,
    catalog: Catalog | None,
    base_params: dict[str, Any],
    budget_s: float,
    max_trials: int,
    k: int = 10,
    seed: int = 0,
    on_trial: Callable[[Trial], None] | None = None,
) -> tuple[dict[str, Any], list[Trial]]:
    """Try up to ``max_trials`` points; stop before a trial that would likely overrun
    ``budget_s``. Returns the params with the best NDCG@k (the base params win ties)."""
    space = SEARCH_SPACES.get(model_type, {})
    trials: list[Trial] = []
    started = time.monotonic()
    for params in candidates(space, base_params, seed)[: max(1, max_trials)]:
        elapsed = time.monotonic() - started
        slowest = max((t.seconds for t in trials), default=0.0)
        if trials and elapsed + slowest > budget_s:
            break
        t0 = time.monotonic()
        metrics = evaluate(build(model_type, params).fit(split.train, catalog), split, k)
        trial = Trial(params, metrics, time.monotonic() - t0)
        trials.append(trial)
        if on_trial is not None:
            on_trial(trial)
    best = max(trials, key=lambda t: t.metrics["ndcg"])  # first max: base params on ties
    return best.params, trials
