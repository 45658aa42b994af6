"""Hyperparameter search with Optuna (TPE), scored on the validation split as served.

Every trial fits on the validation split's training part and scores the served lists
(``models.evaluation.evaluate_served``) on its held-out part: test rows are never seen. The
base params are tried first and win ties; the search stops at ``max_trials`` or before a trial
that would likely overrun the time budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.data import Catalog, Interactions
from models.evaluation import DAY_S, Split, evaluate_served
from models.factory import build

Suggest = Callable[[Any, Interactions], dict[str, Any]]


@dataclass
class Trial:
    params: dict[str, Any]
    metrics: dict[str, float]
    seconds: float


def _als(trial: Any, data: Interactions) -> dict[str, Any]:
    weighting = trial.suggest_categorical("weighting", ["none", "bm25", "tfidf"])
    params: dict[str, Any] = {
        "factors": trial.suggest_int("factors", 8, 256, log=True),
        "regularization": trial.suggest_float("regularization", 1e-3, 10.0, log=True),
        "alpha": trial.suggest_float("alpha", 0.1, 100.0, log=True),
        "iterations": trial.suggest_int("iterations", 5, 40),
        "bm25": weighting == "bm25",
        "tfidf": weighting == "tfidf",
    }
    if weighting == "bm25":
        params["bm25_k1"] = trial.suggest_float("bm25_k1", 1.0, 200.0, log=True)
        params["bm25_b"] = trial.suggest_float("bm25_b", 0.1, 1.0)
    return params


def _bpr(trial: Any, data: Interactions) -> dict[str, Any]:
    return {
        "factors": trial.suggest_int("factors", 8, 256, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 1e-3, 0.2, log=True),
        "regularization": trial.suggest_float("regularization", 1e-5, 0.1, log=True),
        "iterations": trial.suggest_int("iterations", 20, 300, log=True),
    }


def _ease(trial: Any, data: Interactions) -> dict[str, Any]:
    return {
        "regularization": trial.suggest_float("regularization", 1.0, 1e5, log=True),
        "binary": trial.suggest_categorical("binary", [True, False]),
    }


def _item_item(trial: Any, data: Interactions) -> dict[str, Any]:
    return {
        "neighbours": trial.suggest_int("neighbours", 5, 500, log=True),
        "weighting": trial.suggest_categorical("weighting", ["bm25", "cosine"]),
    }


def half_life_choices(data: Interactions) -> list[float | None]:
    """No decay, and half-lives of 1/64 .. 1 of the data's time span (in days)."""
    times = data.last_at if data.last_at is not None else data.first_at
    if times is None or len(times) == 0:
        return [None]
    span_days = max((float(times.max()) - float(times.min())) / DAY_S, 1.0)
    return [None, *sorted({round(span_days / d, 2) for d in (64, 16, 4, 1)})]


SEARCH_SPACES: dict[str, Suggest] = {
    "als": _als,
    "bpr": _bpr,
    "ease": _ease,
    "item_item": _item_item,
}


def score_config(
    model_type: str,
    params: dict[str, Any],
    split: Split,
    catalog: Catalog | None,
    fallback: np.ndarray | None,
    k: int = 10,
    depth: int = 50,
    unavailable: np.ndarray | None = None,
) -> dict[str, float]:
    """Fit one configuration on ``split.train`` and score its served lists on the split.
    ``fallback=None``: the model is popularity and serves as its own fallback."""
    model = build(model_type, params).fit(split.train, catalog)
    if fallback is None:
        fallback = model.top_indices(depth)  # type: ignore[attr-defined]
    return evaluate_served(model, split, fallback, k, depth, unavailable)


#: A decayed popularity must beat no decay by this share on validation to be chosen (a recency
#: bias that wins by noise on a small validation set costs on the next weeks' traffic).
DECAY_MARGIN = 0.02


def _prefer_no_decay(trials: list[Trial]) -> dict[str, Any]:
    """The best trial, unless it decays and does not beat the best undecayed one by
    ``DECAY_MARGIN``."""
    best = max(trials, key=lambda t: t.metrics["ndcg"])
    flat = sorted(
        (t for t in trials if t.params.get("half_life_days") is None),
        key=lambda t: -t.metrics["ndcg"],
    )
    decayed = best.params.get("half_life_days") is not None
    if flat and decayed and best.metrics["ndcg"] <= flat[0].metrics["ndcg"] * (1 + DECAY_MARGIN):
        return flat[0].params
    return best.params


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
    fallback: np.ndarray | None = None,
    depth: int = 50,
    unavailable: np.ndarray | None = None,
) -> tuple[dict[str, Any], list[Trial]]:
    """The best params by served NDCG@k on the (validation) ``split`` and every trial."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials: list[Trial] = []
    started = time.monotonic()

    def run(params: dict[str, Any]) -> float:
        t0 = time.monotonic()
        metrics = score_config(model_type, params, split, catalog, fallback, k, depth, unavailable)
        trial = Trial(params, metrics, time.monotonic() - t0)
        trials.append(trial)
        if on_trial is not None:
            on_trial(trial)
        return metrics["ndcg"]

    run(dict(base_params))
    if model_type == "popularity":  # a handful of half-lives x (weights, counts): try all
        for count in (False, True):
            for choice in half_life_choices(split.train):
                params = {**base_params, "half_life_days": choice, "count": count}
                slowest = max(t.seconds for t in trials)
                if params != trials[0].params and time.monotonic() - started + slowest <= budget_s:
                    run(params)
        return _prefer_no_decay(trials), trials
    suggest = SEARCH_SPACES.get(model_type)
    if suggest is not None and max_trials > 1:

        def objective(trial: Any) -> float:
            return run({**base_params, **suggest(trial, split.train)})

        def stop_before_overrun(study: Any, _: Any) -> None:
            slowest = max(t.seconds for t in trials)
            if time.monotonic() - started + slowest > budget_s:
                study.stop()

        remaining = budget_s - (time.monotonic() - started)
        if remaining > trials[0].seconds:
            study = optuna.create_study(
                direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed)
            )
            study.optimize(
                objective,
                n_trials=max_trials - 1,
                timeout=remaining,
                callbacks=[stop_before_overrun],
            )
    best = max(trials, key=lambda t: t.metrics["ndcg"])  # first max: the base params on ties
    return best.params, trials
