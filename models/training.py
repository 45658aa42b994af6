"""Training entry point: marts -> split -> tuning -> evaluation -> models fitted on all data."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from models.base import Recommender
from models.data import Catalog, DataError, Interactions
from models.evaluation import Split, evaluate, leave_last_out, temporal_split
from models.factory import build
from models.hybrid import Hybrid
from models.tuning import Trial, tune

MODEL_TYPES = ("popularity", "als", "bpr", "item_item", "content", "hybrid")
BASE_PARAMS: dict[str, dict[str, Any]] = {name: {} for name in MODEL_TYPES}
MIN_TEST_USERS = 5


class InsufficientData(DataError):
    """Too few users, items or interactions to train and evaluate a recommender."""


@dataclass
class TrainingConfig:
    k: int = 10
    holdout_days: float = 7.0
    tuning_budget_s: float = 60.0  # the cap; see ``tuning_budget``
    tuning_max_trials: int = 8
    tuning_min_budget_s: float = 3.0
    tuning_s_per_100k: float = 10.0
    tune_types: tuple[str, ...] = ("als",)
    min_users: int = 5
    min_items: int = 5
    model_types: tuple[str, ...] = MODEL_TYPES
    params: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(BASE_PARAMS))

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> TrainingConfig:
        values = {
            "k": settings.recs_eval_k,
            "holdout_days": settings.recs_holdout_days,
            "tuning_budget_s": settings.recs_tuning_budget_s,
            "tuning_max_trials": settings.recs_tuning_max_trials,
            "tuning_min_budget_s": settings.recs_tuning_min_budget_s,
            "tuning_s_per_100k": settings.recs_tuning_s_per_100k,
            "min_users": settings.recs_min_users,
            "min_items": settings.recs_min_items,
        }
        return cls(**{**values, **overrides})

    def tuning_budget(self, interactions: int) -> float:
        """Seconds of tuning for data of this size: grows with the interactions, capped by
        ``tuning_budget_s`` (a tiny shop tunes for seconds, a large one up to the cap)."""
        scaled = self.tuning_min_budget_s + self.tuning_s_per_100k * interactions / 100_000
        return min(self.tuning_budget_s, scaled)


@dataclass
class TrainingResult:
    data: Interactions
    catalog: Catalog
    split: Split
    table: dict[str, dict[str, float]]  # model type -> metric -> value, on ``split``
    params: dict[str, dict[str, Any]]  # model type -> params used (tuned where tuned)
    trials: dict[str, list[Trial]]
    models: dict[str, Recommender]  # fitted on all data, for publishing
    timings: dict[str, float] = field(default_factory=dict)  # step -> seconds
    tuning_budget_s: float = 0.0

    @property
    def best(self) -> str:
        """The model type with the best NDCG@k on the split."""
        return max(self.table, key=lambda name: self.table[name]["ndcg"])


def prepare(interactions: pd.DataFrame, items: pd.DataFrame) -> tuple[Interactions, Catalog]:
    """Build the matrix over the whole catalog (so new items have a column)."""
    catalog = Catalog.from_frame(items)
    known = set(catalog.item_ids)
    extra = sorted(set(interactions["item_id"].astype(str)) - known)
    item_ids = list(catalog.item_ids) + extra
    if extra:  # interactions with items the catalog lacks: keep them, with empty attributes
        catalog = Catalog.from_frame(pd.concat([items, pd.DataFrame({"item_id": extra})]))
    return Interactions.from_frame(interactions, item_ids=item_ids), catalog


def check_trainable(data: Interactions, config: TrainingConfig) -> None:
    active_items = int((data.matrix.getnnz(axis=0) > 0).sum())
    if data.n_users < config.min_users or active_items < config.min_items:
        raise InsufficientData(
            f"{data.n_users} users and {active_items} items with interactions; "
            f"need at least {config.min_users} users and {config.min_items} items"
        )


def make_split(data: Interactions, config: TrainingConfig) -> Split:
    """Temporal holdout when it leaves enough test users, else leave-last-out."""
    split = temporal_split(data, config.holdout_days)
    if len(split.test_users) < MIN_TEST_USERS:
        split = leave_last_out(data)
    if len(split.test_users) == 0:
        raise InsufficientData("no user has both training and held-out interactions")
    return split


def fit_models(
    data: Interactions,
    catalog: Catalog,
    params: dict[str, dict[str, Any]],
    model_types: tuple[str, ...] = MODEL_TYPES,
) -> dict[str, Recommender]:
    """Fit each type; the hybrid reuses the fitted components (fitting any it lacks)."""
    fitted: dict[str, Recommender] = {}
    for name in model_types:
        if name != "hybrid":
            fitted[name] = build(name, params.get(name, {})).fit(data, catalog)
    if "hybrid" in model_types:
        hybrid_params = {k: v for k, v in params.get("hybrid", {}).items() if k != "components"}
        probe = Hybrid(**hybrid_params)
        for name in probe.weights:
            if name not in fitted:
                fitted[name] = build(name, params.get(name, {})).fit(data, catalog)
        fitted["hybrid"] = Hybrid.from_components(fitted, **hybrid_params)
    return {name: fitted[name] for name in model_types}


def evaluate_config(
    model_type: str, params: dict[str, Any], split: Split, catalog: Catalog, k: int = 10
) -> dict[str, float]:
    """Fit one configuration on the split's train part and evaluate it (champion re-check)."""
    return evaluate(build(model_type, params).fit(split.train, catalog), split, k)


def train_and_evaluate(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    config: TrainingConfig | None = None,
    on_trial: Callable[[str, Trial], None] | None = None,
) -> TrainingResult:
    config = config or TrainingConfig()
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 3)
        clock = now

    data, catalog = prepare(interactions, items)
    check_trainable(data, config)
    split = make_split(data, config)
    lap("prepare")
    params = {name: dict(config.params.get(name, {})) for name in config.model_types}
    trials: dict[str, list[Trial]] = {}
    budget = config.tuning_budget(data.nnz)
    for name in config.tune_types:
        if name not in params:
            continue
        callback = (lambda t, n=name: on_trial(n, t)) if on_trial else None
        params[name], trials[name] = tune(
            name, split, catalog, params[name], budget,
            config.tuning_max_trials, config.k, on_trial=callback,
        )  # fmt: skip
    lap("tune")
    on_train = fit_models(split.train, catalog, params, config.model_types)
    table = {name: evaluate(model, split, config.k) for name, model in on_train.items()}
    lap("evaluate")
    models = fit_models(data, catalog, params, config.model_types)
    lap("fit_all")
    params = {name: model.params() for name, model in models.items()}
    return TrainingResult(
        data, catalog, split, table, params, trials, models, timings, round(budget, 3)
    )
