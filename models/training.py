"""Training: marts -> per-user temporal splits -> tuning on validation -> served evaluation on
test beside the baselines -> models fitted on all data.

The test split holds out each user's latest 20 % of pairs; the validation split is carved out
of its training part by the same rule, and every choice (hyperparameters, the fallback's
decay, the hybrid's blend, the best kind) is made on validation. Test rows only measure.
A global time split ("last ``holdout_days`` days") is kept as a second view.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.base import BLOCK_FLOATS, Recommender, top_k
from models.data import Catalog, DataError, Interactions
from models.evaluation import (
    Split,
    evaluate_served,
    exclusions,
    metrics_from_indices,
    per_user_split,
    sample_users,
    temporal_split,
)
from models.factory import build
from models.hybrid import fuse
from models.kinds import BASELINES, HYBRID_COMPONENTS, MODEL_KINDS, TUNED_KINDS
from models.popularity import Popularity
from models.served import compose, unavailable_items
from models.tuning import Trial, score_config, tune

log = logging.getLogger(__name__)
HYBRID_DEPTH = 100


class InsufficientData(DataError):
    """Too few users, items or interactions to train and evaluate a recommender."""


@dataclass
class TrainingConfig:
    k: int = 10
    holdout_fraction: float = 0.2
    holdout_days: float = 7.0  # the global time view
    depth: int = 50  # the published list length (settings.recs_top_n)
    tuning_budget_s: float = 60.0  # the cap per tuned kind; see ``tuning_budget``
    tuning_max_trials: int = 20
    tuning_min_budget_s: float = 3.0
    tuning_s_per_100k: float = 10.0
    tune_types: tuple[str, ...] = TUNED_KINDS
    min_users: int = 5
    min_items: int = 5
    validation_users: int = 20_000  # a sample bounds each tuning trial's scoring on big data
    model_types: tuple[str, ...] = MODEL_KINDS
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    seed: int = 0

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> TrainingConfig:
        values = {
            "k": settings.recs_eval_k,
            "holdout_fraction": settings.recs_holdout_fraction,
            "holdout_days": settings.recs_holdout_days,
            "depth": settings.recs_top_n,
            "tuning_budget_s": settings.recs_tuning_budget_s,
            "tuning_max_trials": settings.recs_tuning_max_trials,
            "tuning_min_budget_s": settings.recs_tuning_min_budget_s,
            "tuning_s_per_100k": settings.recs_tuning_s_per_100k,
            "min_users": settings.recs_min_users,
            "min_items": settings.recs_min_items,
        }
        return cls(**{**values, **overrides})

    def tuning_budget(self, interactions: int) -> float:
        """Seconds of tuning per tuned kind for data of this size: grows with the interactions,
        capped by ``tuning_budget_s`` (a tiny shop tunes for seconds, a large one up to the cap).
        """
        scaled = self.tuning_min_budget_s + self.tuning_s_per_100k * interactions / 100_000
        return min(self.tuning_budget_s, scaled)


@dataclass
class Prepared:
    """The data and the splits every kind is trained and scored on."""

    data: Interactions
    catalog: Catalog
    test: Split
    validation: Split
    time_view: Split | None
    fallback_params: dict[str, Any]  # the popularity fallback, decay chosen on validation
    fallback_trials: list[Trial]
    budget_s: float  # tuning seconds per tuned kind
    unavailable: np.ndarray | None = None  # per item: serving filters it (blocked, no stock)

    def fallback(self, split: Split, depth: int) -> np.ndarray:
        """The published popular list of a model fitted on ``split.train``, as item indices."""
        return Popularity(**self.fallback_params).fit(split.train).top_indices(depth)

    def describe(self) -> dict[str, Any]:
        view = self.time_view
        return {
            "split": f"{self.test.kind} ({self.test.fingerprint})",
            "test_users": len(self.test.test_users),
            "validation_users": len(self.validation.test_users),
            "time_view": f"{view.kind}, {len(view.test_users)} users" if view else "none",
            "fallback": self.fallback_params,
            "tuning_budget_s_per_kind": round(self.budget_s, 3),
        }


@dataclass
class KindResult:
    """One kind: params (tuned), trials, served metrics on validation/test/time view, the model
    fitted on all data. ``error`` is set (and ``model`` None) when training failed."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    trials: list[Trial] = field(default_factory=list)
    validation: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    time_view: dict[str, float] = field(default_factory=dict)
    model: Recommender | None = None
    seconds: float = 0.0
    error: str | None = None


@dataclass
class TrainingResult:
    data: Interactions
    catalog: Catalog
    split: Split
    table: dict[str, dict[str, float]]  # kind -> served metrics on the test split
    params: dict[str, dict[str, Any]]
    trials: dict[str, list[Trial]]
    models: dict[str, Recommender]  # fitted on all data, for publishing
    timings: dict[str, float] = field(default_factory=dict)
    tuning_budget_s: float = 0.0
    validation_table: dict[str, dict[str, float]] = field(default_factory=dict)
    baselines: dict[str, dict[str, float]] = field(default_factory=dict)  # on the test split
    time_table: dict[str, dict[str, float]] = field(default_factory=dict)
    prepared: Prepared | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def best(self) -> str:
        """The kind with the best served NDCG@k on validation (test only measures)."""
        return best_kind(self.validation_table or self.table)


def best_kind(validation: dict[str, dict[str, float]]) -> str:
    return max(validation, key=lambda name: validation[name].get("ndcg", 0.0))


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
    positives = data.positives()
    users = int((positives.matrix.getnnz(axis=1) > 0).sum())
    active_items = int((positives.matrix.getnnz(axis=0) > 0).sum())
    if users < config.min_users or active_items < config.min_items:
        raise InsufficientData(
            f"{users} users and {active_items} items with positive interactions; "
            f"need at least {config.min_users} users and {config.min_items} items"
        )


def make_split(data: Interactions, config: TrainingConfig) -> Split:
    """The per-user temporal split (test)."""
    split = per_user_split(data, config.holdout_fraction)
    if len(split.test_users) == 0:
        raise InsufficientData("no user has a relevant held-out interaction")
    return split


def prepare_run(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    config: TrainingConfig,
    on_trial: Callable[[str, Trial], None] | None = None,
) -> Prepared:
    """Data, test and validation splits, the time view and the validated fallback."""
    if interactions.empty:
        raise InsufficientData("the interactions mart is empty")
    data, catalog = prepare(interactions, items)
    check_trainable(data, config)
    test = make_split(data, config)
    validation = sample_users(
        per_user_split(test.train, config.holdout_fraction), config.validation_users, config.seed
    )
    if len(validation.test_users) == 0:
        raise InsufficientData("no user has a relevant interaction to validate on")
    time_view: Split | None = None
    try:
        view = temporal_split(data, config.holdout_days)
        time_view = view if len(view.test_users) else None
    except DataError:
        pass
    budget = config.tuning_budget(data.nnz)
    unavailable = unavailable_items(items, data.item_ids)
    callback = (lambda t: on_trial("popularity", t)) if on_trial else None
    base = {"half_life_days": None, **config.params.get("popularity", {})}
    fallback_params, trials = tune(
        "popularity", validation, catalog, base, budget, config.tuning_max_trials,
        config.k, config.seed, callback, None, config.depth, unavailable,
    )  # fmt: skip
    return Prepared(
        data, catalog, test, validation, time_view, fallback_params, trials, budget, unavailable
    )


def fit_models(
    data: Interactions,
    catalog: Catalog,
    params: dict[str, dict[str, Any]],
    model_types: tuple[str, ...] = MODEL_KINDS,
) -> dict[str, Recommender]:
    """Fit each kind; the hybrid reuses the fitted components (fitting any it lacks)."""
    from models.hybrid import Hybrid

    fitted: dict[str, Recommender] = {}
    for name in model_types:
        if name != "hybrid":
            fitted[name] = build(name, params.get(name, {})).fit(data, catalog)
    if "hybrid" in model_types:
        hybrid_params = dict(params.get("hybrid", {}))
        components = hybrid_params.pop("components", {})
        probe = Hybrid(**hybrid_params)
        for name in probe.weights:
            if name not in fitted:
                fitted[name] = build(name, components.get(name, params.get(name, {}))).fit(
                    data, catalog
                )
        fitted["hybrid"] = Hybrid.from_components(fitted, **hybrid_params)
    return {name: fitted[name] for name in model_types}


def _served(
    model: Recommender, prep: Prepared, split: Split, k: int, depth: int
) -> dict[str, float]:
    fallback = (
        model.top_indices(depth) if isinstance(model, Popularity) else prep.fallback(split, depth)
    )
    return evaluate_served(model, split, fallback, k, depth, prep.unavailable)


def train_kind(
    kind: str,
    prep: Prepared,
    config: TrainingConfig,
    components: dict[str, dict[str, Any]] | None = None,
    on_trial: Callable[[str, Trial], None] | None = None,
) -> KindResult:
    """Tune ``kind`` on validation (the hybrid learns its blend of ``components``), score it
    served on test and the time view, and fit it on all data. Never raises for a model error:
    the result carries it, so one failing kind does not stop the others."""
    started = time.perf_counter()
    result = KindResult(kind)
    try:
        if kind == "popularity":
            result.params, result.trials = prep.fallback_params, prep.fallback_trials
        elif kind == "hybrid":
            result.params, result.trials = learn_hybrid(prep, config, components or {}, on_trial)
        elif kind in config.tune_types:
            callback = (lambda t: on_trial(kind, t)) if on_trial else None
            result.params, result.trials = tune(
                kind, prep.validation, prep.catalog, dict(config.params.get(kind, {})),
                prep.budget_s, config.tuning_max_trials, config.k, config.seed, callback,
                prep.fallback(prep.validation, config.depth), config.depth, prep.unavailable,
            )  # fmt: skip
        else:
            result.params = dict(config.params.get(kind, {}))
        best_trial = max(result.trials, key=lambda t: t.metrics["ndcg"], default=None)
        if best_trial is not None:
            result.validation = best_trial.metrics
        else:
            result.validation = _score(kind, result.params, prep, prep.validation, config)
        result.test = _score(kind, result.params, prep, prep.test, config)
        if prep.time_view is not None:
            result.time_view = _score(kind, result.params, prep, prep.time_view, config)
        # nnz: ALS past als_spark_min_interactions (or SHOPFLOW_ALS_ENGINE=spark) fits on Spark
        result.model = build(kind, result.params, nnz=prep.data.nnz).fit(prep.data, prep.catalog)
        result.params = result.model.params()
    except Exception as exc:  # noqa: BLE001 - reported on the result, the others go on
        result.error = f"{type(exc).__name__}: {exc}"
        result.model = None
        log.exception("training %s failed", kind)
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _score(
    kind: str, params: dict[str, Any], prep: Prepared, split: Split, config: TrainingConfig
) -> dict[str, float]:
    model = build(kind, params, nnz=prep.data.nnz).fit(split.train, prep.catalog)
    return _served(model, prep, split, config.k, config.depth)


def learn_hybrid(
    prep: Prepared,
    config: TrainingConfig,
    components: dict[str, dict[str, Any]],
    on_trial: Callable[[str, Trial], None] | None = None,
) -> tuple[dict[str, Any], list[Trial]]:
    """The hybrid's blend weights and RRF constant, learned (Optuna) on validation from the
    components' top lists; components whose weight ends near zero are dropped (popularity
    stays for cold start)."""
    import optuna

    from models.hybrid import DEFAULT_WEIGHTS

    names = [n for n in HYBRID_COMPONENTS if n in components or n == "popularity"]
    params = {n: components.get(n, {}) for n in names}
    params["popularity"] = components.get("popularity", prep.fallback_params)
    split = prep.validation
    users = split.test_users
    warm = np.asarray(split.train.matrix.getnnz(axis=1))[users] > 0
    rankings = {}
    for name in names:
        model = build(name, params[name]).fit(split.train, prep.catalog)
        rankings[name], _ = model.recommend_rows(users[warm], HYBRID_DEPTH)
    fallback = prep.fallback(split, config.depth)
    excluded = exclusions(split.train)[users]
    trials: list[Trial] = []
    started = time.monotonic()

    n_items = split.train.n_items
    block = max(1, BLOCK_FLOATS // max(n_items, 1))
    n_warm = int(warm.sum())

    def run(weights: dict[str, float], rrf_k: float) -> float:
        t0 = time.monotonic()
        top = np.full((n_warm, config.depth), -1, dtype=np.int64)
        top_scores = np.zeros(top.shape, dtype=np.float32)
        for start in range(0, n_warm, block):  # dense fused scores one block of rows at a time
            part = {name: r[start : start + block] for name, r in rankings.items()}
            fused = fuse(part, weights, rrf_k, n_items)
            top[start : start + block], top_scores[start : start + block] = top_k(
                fused, config.depth
            )
        batch = np.full((len(users), config.depth), -1, dtype=np.int64)
        scores = np.zeros(batch.shape, dtype=np.float32)
        batch[warm], scores[warm] = top, top_scores
        idx, _ = compose(batch, fallback, config.k, excluded, prep.unavailable, scores)
        metrics = metrics_from_indices(idx, split, config.k)
        trial = Trial({"weights": weights, "rrf_k": rrf_k}, metrics, time.monotonic() - t0)
        trials.append(trial)
        if on_trial is not None:
            on_trial("hybrid", trial)
        return metrics["ndcg"]

    run({n: DEFAULT_WEIGHTS.get(n, 0.5) for n in names}, 60.0)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed)
    )
    study.optimize(
        lambda t: run(
            {n: t.suggest_float(n, 0.0, 1.0) for n in names},
            t.suggest_float("rrf_k", 1.0, 200.0, log=True),
        ),
        n_trials=max(0, 3 * config.tuning_max_trials - 1),
        timeout=max(0.0, prep.budget_s - (time.monotonic() - started)),
    )
    best = max(trials, key=lambda t: t.metrics["ndcg"])
    weights = {n: round(w, 4) for n, w in best.params["weights"].items()}
    weights = {n: w for n, w in weights.items() if w >= 0.01 or n == "popularity"}
    hybrid = {
        "weights": weights,
        "rrf_k": best.params["rrf_k"],
        "depth": HYBRID_DEPTH,
        "components": {n: params[n] for n in weights},
    }
    return hybrid, trials


def score_baselines(prep: Prepared, config: TrainingConfig) -> dict[str, dict[str, Any]]:
    """Served metrics of the baselines (``models.kinds.BASELINES``) on test and the time
    view; each baseline is its own (popularity-by-counts) fallback."""
    counts = BASELINES["popularity"][1]
    out: dict[str, dict[str, Any]] = {}
    for name, (kind, params) in BASELINES.items():
        row: dict[str, Any] = {}
        for label, split in (("test", prep.test), ("time_view", prep.time_view)):
            if split is None:
                continue
            model = build(kind, params).fit(split.train, prep.catalog)
            pop = Popularity(**counts).fit(split.train)
            row[label] = evaluate_served(
                model, split, pop.top_indices(config.depth), config.k, config.depth,
                prep.unavailable,
            )  # fmt: skip
        out[name] = row
    return out


def train_and_evaluate(
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    config: TrainingConfig | None = None,
    on_trial: Callable[[str, Trial], None] | None = None,
) -> TrainingResult:
    """Every kind of ``config.model_types`` (the hybrid last, blending the others) and the
    baselines, on one set of splits."""
    config = config or TrainingConfig()
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    prep = prepare_run(interactions, items, config, on_trial)
    timings["prepare"] = round(time.perf_counter() - clock, 3)
    results: dict[str, KindResult] = {}
    for kind in config.model_types:
        if kind == "hybrid":
            continue
        results[kind] = train_kind(kind, prep, config, on_trial=on_trial)
    if "hybrid" in config.model_types:
        components = {k: r.params for k, r in results.items() if r.error is None}
        results["hybrid"] = train_kind("hybrid", prep, config, components, on_trial)
    for kind, res in results.items():
        timings[kind] = res.seconds
    clock = time.perf_counter()
    baselines = score_baselines(prep, config)
    timings["baselines"] = round(time.perf_counter() - clock, 3)
    ok = {k: r for k, r in results.items() if r.error is None and r.model is not None}
    return TrainingResult(
        data=prep.data,
        catalog=prep.catalog,
        split=prep.test,
        table={k: r.test for k, r in ok.items()},
        params={k: r.params for k, r in ok.items()},
        trials={k: r.trials for k, r in ok.items()},
        models={k: r.model for k, r in ok.items() if r.model is not None},
        timings=timings,
        tuning_budget_s=round(prep.budget_s, 3),
        validation_table={k: r.validation for k, r in ok.items()},
        baselines={name: row["test"] for name, row in baselines.items()},
        time_table={
            **{k: r.time_view for k, r in ok.items() if r.time_view},
            **{f"baseline:{n}": r["time_view"] for n, r in baselines.items() if "time_view" in r},
        },
        prepared=prep,
        errors={k: r.error for k, r in results.items() if r.error},
    )


def evaluate_config(
    model_type: str, params: dict[str, Any], prep: Prepared, config: TrainingConfig
) -> dict[str, float]:
    """Fit one configuration on the test split's train part and score it served (used to
    re-score the champion on this run's split)."""
    fallback = None if model_type == "popularity" else prep.fallback(prep.test, config.depth)
    return score_config(
        model_type, params, prep.test, prep.catalog, fallback, config.k, config.depth,
        prep.unavailable,
    )  # fmt: skip
