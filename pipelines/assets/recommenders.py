"""Recommender assets: one per model kind, the evaluation with its champion gate, the publish.

Graph: marts -> ``recommender_training_data`` (the splits and the validated popularity
fallback, prepared once per run and passed on by the IO manager) -> ``recommender_<kind>`` for
each kind of ``models.kinds.MODEL_KINDS`` (the hybrid also takes ``HYBRID_COMPONENTS``: it
blends them) -> ``recommender_evaluation`` (baselines, the best kind by validation, the gate;
its ``champion_gate`` check fails when the gate rejects a candidate that would regress) ->
``published_recommendations`` (the champion and every kind's
lists in Redis). A kind that fails to train still materializes, with ``status=failed`` and a
failing ``trained`` check, so the others, the evaluation and the publish go on.

Thin edges: the work is done by ``models`` (training, evaluation, MLflow registry) and
``pipelines.publish`` (the Redis writer); these assets read the marts and wire them up.
"""

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

import dagster as dg

from models.kinds import BATCH_STRATEGIES, HYBRID_COMPONENTS, MODEL_KINDS
from pipelines.resources import MLflowResource, RedisResource, WarehouseResource
from shopflow.config import Settings, get_settings
from shopflow.online_store import codec

if TYPE_CHECKING:  # heavy (pandas, scikit-learn, MLflow): imported where the assets run
    import pandas as pd

    from models.base import Recommender
    from models.registry import ModelRef
    from models.training import Prepared, TrainingConfig
    from models.tuning import Trial
    from pipelines.publish import PublishBundle

GROUP = "recommenders"
MART_DEPS = [dg.AssetKey("fct_interactions"), dg.AssetKey("dim_items")]
TRAINING_DATA = "recommender_training_data"


def asset_name(kind: str) -> str:
    return f"recommender_{kind}"


def load_marts(warehouse: WarehouseResource) -> "tuple[pd.DataFrame, pd.DataFrame]":
    """Read ``fct_interactions`` and ``dim_items`` with one short read-only connection, in a
    fixed order, so that a run on the same marts splits and fits the same way every time."""
    with warehouse.connect(read_only=True) as con:
        interactions = con.execute("select * from fct_interactions order by user_id, item_id").df()
        items = con.execute("select * from dim_items order by item_id").df()
    return interactions, items


def _log_trial(model_type: str, trial: "Trial") -> None:
    from models.registry import log_trial

    log_trial(model_type, trial.params, trial.metrics)


def _setup(mlflow: MLflowResource) -> Settings:
    from models.registry import prepare_store

    settings = get_settings()
    prepare_store(mlflow.tracking_uri or settings.mlflow_uri)
    mlflow.setup()
    return settings


def run_link(mlflow: MLflowResource, run: Any) -> dg.MetadataValue:
    """An MLflow run (or run id) as a link when the tracking server has a web UI, else
    ``runs:/ID (tracking uri)``."""
    import mlflow as mlf

    uri = mlflow.tracking_uri or mlf.get_tracking_uri()
    run = mlf.get_run(run) if isinstance(run, str) else run
    run_id = run.info.run_id
    if uri.startswith("http"):
        exp = run.info.experiment_id
        return dg.MetadataValue.url(f"{uri.rstrip('/')}/#/experiments/{exp}/runs/{run_id}")
    return dg.MetadataValue.text(f"runs:/{run_id} ({uri})")


def _prepare(
    warehouse: WarehouseResource, settings: Settings, on_trial: Callable | None = None
) -> "tuple[Prepared | None, TrainingConfig, str]":
    """The splits and fallback every asset of a run shares (deterministic), or why not."""
    from models.training import InsufficientData, TrainingConfig, prepare_run

    interactions, items = load_marts(warehouse)
    config = TrainingConfig.from_settings(settings)
    try:
        return prepare_run(interactions, items, config, on_trial), config, ""
    except InsufficientData as exc:
        return None, config, f"not trained, champion unchanged: {exc}"


@dg.asset(
    name=TRAINING_DATA,
    group_name=GROUP,
    deps=MART_DEPS,
    description="The data every kind of a run trains and is scored on, prepared once: the "
    "interaction matrix over the catalog, the per-user temporal test split, the validation "
    "split carved from its train part, the time view and the popularity fallback tuned on "
    "validation (or, on too little data, why nothing is trained).",
)
def recommender_training_data(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.Output[Any]:
    started = time.perf_counter()
    prep, config, reason = _prepare(warehouse, get_settings())
    meta: dict[str, Any] = {"seconds": round(time.perf_counter() - started, 3)}
    if prep is None:
        context.log.warning(reason)
        meta |= {"status": "skipped", "reason": reason}
    else:
        meta |= {
            "status": "prepared",
            "users": prep.data.n_users,
            "items": prep.data.n_items,
            "interactions": prep.data.nnz,
            **prep.describe(),
        }
    return dg.Output((prep, config, reason), metadata=meta)


def _metric_md(rows: dict[str, dict[str, float]], k: int) -> dg.MetadataValue:
    from models.evaluation import metric_table_markdown

    return dg.MetadataValue.md(metric_table_markdown(rows, k))


def _train(
    kind: str,
    context: dg.AssetExecutionContext,
    mlflow: MLflowResource,
    training: "tuple[Prepared | None, TrainingConfig, str]",
    upstream: dict[str, dict[str, Any]] | None = None,
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    """Tune, score and fit one kind; log and register it; never fail the step for a model
    error (the ``trained`` check fails instead)."""
    import mlflow as mlf

    from models.registry import log_kind
    from models.training import train_kind

    started = time.perf_counter()
    _setup(mlflow)
    prep, config, skipped = training
    with mlf.start_run(run_name=asset_name(kind)) as run:
        mlf.set_tags({"asset": asset_name(kind), "model_type": kind})
        meta: dict[str, Any] = {
            "mlflow_run": run_link(mlflow, run),
            "mlflow_run_id": run.info.run_id,
        }
        if prep is None:
            mlf.set_tags({"status": "skipped", "reason": skipped})
            context.log.warning(skipped)
            skip = {"kind": kind, "status": "skipped", "reason": skipped}
            yield dg.Output(skip, metadata={**meta, "status": "skipped", "reason": skipped})
            yield dg.AssetCheckResult(
                check_name="trained", passed=True, metadata={"reason": skipped}
            )
            return
        components = None
        if upstream is not None:
            components = {
                name: out["params"] for name, out in upstream.items() if out["status"] == "trained"
            }
        result = train_kind(kind, prep, config, components, on_trial=_log_trial)
        value: dict[str, Any] = {
            "kind": kind,
            "status": "failed" if result.error else "trained",
            "error": result.error,
            "params": result.params,
            "validation": result.validation,
            "test": result.test,
            "time_view": result.time_view,
            "split": prep.test.fingerprint,
            "run_id": run.info.run_id,
        }
        if result.error is None:
            ref = log_kind(result, prep.test.fingerprint, config.k)
            value["ref"] = [ref.name, ref.version]
            meta["registered"] = f"{ref.name} v{ref.version}"
            mlf.set_tag("status", "trained")
        else:
            mlf.set_tags({"status": "failed", "error": result.error[:500]})
            context.log.error(f"{kind} failed: {result.error}")
        k = config.k
        meta |= {
            "status": value["status"],
            f"val_ndcg@{k}": result.validation.get("ndcg", 0.0),
            f"test_ndcg@{k}": result.test.get("ndcg", 0.0),
            f"test_recall@{k}": result.test.get("recall", 0.0),
            "metrics": _metric_md({"validation": result.validation, "test": result.test}, k)
            if result.error is None
            else "",
            "params": dg.MetadataValue.json(result.params or {}),
            "trials": len(result.trials),
            "tuning_budget_s": round(prep.budget_s, 3),
            "seconds": round(time.perf_counter() - started, 3),
            **prep.describe(),
        }
        if result.error:
            meta["error"] = result.error
    yield dg.Output(value, metadata=meta)
    yield dg.AssetCheckResult(
        check_name="trained",
        passed=result.error is None,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"error": result.error or ""},
    )


def _upstream_ins(kinds: "tuple[str, ...]") -> dict[str, dg.AssetIn]:
    """The run's training data plus the outputs of ``kinds``, keyed by kind."""
    return {TRAINING_DATA: dg.AssetIn(TRAINING_DATA)} | {
        kind: dg.AssetIn(asset_name(kind)) for kind in kinds
    }


_KIND_DESCRIPTIONS = {
    "hybrid": "The hybrid: weighted reciprocal-rank fusion of the other kinds (their tuned "
    "params), blend weights learned on validation; cold start from popularity.",
}


def _kind_asset(kind: str) -> dg.AssetsDefinition:
    components = HYBRID_COMPONENTS if kind == "hybrid" else ()

    @dg.asset(
        name=asset_name(kind),
        group_name=GROUP,
        ins=_upstream_ins(components),
        check_specs=[dg.AssetCheckSpec("trained", asset=asset_name(kind))],
        description=_KIND_DESCRIPTIONS.get(
            kind,
            f"The {kind} recommender: tuned (Optuna) on a validation split carved from train, "
            "scored as served on the per-user temporal split, fitted on all data, logged and "
            "registered in MLflow.",
        ),
    )
    def _asset(
        context: dg.AssetExecutionContext,
        mlflow: MLflowResource,
        recommender_training_data: Any,
        **upstream: dict[str, Any],
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        yield from _train(
            kind, context, mlflow, recommender_training_data, upstream if components else None
        )

    return _asset


# the hybrid last: it takes the others' tuned params
KIND_ASSETS = {kind: _kind_asset(kind) for kind in sorted(MODEL_KINDS, key="hybrid".__eq__)}


@dg.asset(
    group_name=GROUP,
    ins=_upstream_ins(MODEL_KINDS),
    check_specs=[dg.AssetCheckSpec("champion_gate", asset="recommender_evaluation")],
    description="Scores the baselines (popularity by train counts, ALS with library defaults) "
    "on the same per-user split as every kind, picks the best kind by validation and moves the "
    "champion only when it beats the champion and both baselines on test.",
)
def recommender_evaluation(
    context: dg.AssetExecutionContext,
    mlflow: MLflowResource,
    recommender_training_data: Any,
    **upstream: dict[str, Any],
) -> Iterator[dg.Output | dg.AssetCheckResult]:
    import mlflow as mlf

    started = time.perf_counter()
    _setup(mlflow)
    prep, config, reason = recommender_training_data
    upstream = {kind: upstream[kind] for kind in MODEL_KINDS}  # ties go to the first kind
    with mlf.start_run(run_name="recommender_evaluation") as run:
        meta: dict[str, Any] = {
            "mlflow_run": run_link(mlflow, run),
            "mlflow_run_id": run.info.run_id,
        }
        trained = {}
        if prep is not None:
            trained = {
                kind: out
                for kind, out in upstream.items()
                if out.get("status") == "trained" and out.get("split") == prep.test.fingerprint
            }
            if not trained:
                reason = "no kind trained on this data: champion unchanged"
        if prep is None or not trained:
            mlf.set_tags({"status": "skipped", "reason": reason})
            context.log.warning(reason)
            value = {"status": "skipped", "reason": reason, "run_id": run.info.run_id}
            yield dg.Output(value, metadata={**meta, "status": "skipped", "reason": reason})
            yield dg.AssetCheckResult(
                check_name="champion_gate", passed=True, metadata={"reason": reason}
            )
            return
        value, meta = _evaluate(prep, config, trained, upstream, run.info.run_id, meta)
        mlf.set_tags({"status": "trained", "gate": meta["gate"]})
    context.log.info(meta["gate_reason"])
    meta["seconds"] = round(time.perf_counter() - started, 3)
    yield dg.Output(value, metadata=meta)
    decision = value["decision"]
    yield dg.AssetCheckResult(
        check_name="champion_gate",
        passed=bool(decision["promoted"]),
        severity=dg.AssetCheckSeverity.WARN,
        description=decision["reason"],
        metadata={
            "reason": decision["reason"],
            "figures": dg.MetadataValue.json(decision["figures"] or {}),
        },
    )


def _evaluate(
    prep: "Prepared",
    config: "TrainingConfig",
    trained: dict[str, dict[str, Any]],
    upstream: dict[str, dict[str, Any]],
    run_id: str,
    meta: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Baselines, the best kind, the gate; the asset's value and metadata."""
    from models.registry import ModelRef, bootstrap_baseline, gate, log_tables
    from models.training import best_kind, evaluate_config, score_baselines

    k = config.k
    baselines = score_baselines(prep, config)
    table = {kind: out["test"] for kind, out in trained.items()}
    validation = {kind: out["validation"] for kind, out in trained.items()}
    time_view = {kind: out["time_view"] for kind, out in trained.items() if out["time_view"]}
    time_view |= {f"baseline:{n}": b["time_view"] for n, b in baselines.items() if "time_view" in b}
    base_test = {name: b["test"] for name, b in baselines.items()}
    table_md = log_tables(table, base_test, validation, time_view, k)
    best = best_kind(validation)
    name, version = trained[best]["ref"]
    candidate = ModelRef(name, str(version), best, trained[best]["run_id"])
    decision = gate(
        best, candidate, table[best]["ndcg"], trained[best]["params"],
        {name: b["ndcg"] for name, b in base_test.items()}, prep.test.fingerprint,
        lambda kind, params: evaluate_config(kind, params, prep, config)["ndcg"], k, 0.0,
        lambda name: bootstrap_baseline(name, prep, base_test[name]["ndcg"], k),
    )  # fmt: skip
    best_baseline = max(b["ndcg"] for b in base_test.values())
    failed = {kind: out.get("error") or out.get("reason") for kind, out in upstream.items()
              if kind not in trained}  # fmt: skip
    value = {
        "status": "trained",
        "run_id": run_id,
        "split": prep.test.fingerprint,
        "best": best,
        "table": table,
        "validation": validation,
        "baselines": base_test,
        "refs": {kind: out["ref"] for kind, out in trained.items()},
        "decision": decision.as_dict(),
        "failed": failed,
    }
    champion = decision.champion
    meta |= {
        "metrics": dg.MetadataValue.md(table_md),
        "validation": _metric_md(validation, k),
        "time_view": _metric_md(time_view, k) if time_view else "no users in the time view",
        f"baseline_popularity_ndcg@{k}": base_test["popularity"]["ndcg"],
        f"baseline_als_defaults_ndcg@{k}": base_test["als_defaults"]["ndcg"],
        f"best_ndcg@{k}": table[best]["ndcg"],
        "best_vs_best_baseline": round(table[best]["ndcg"] / best_baseline, 3)
        if best_baseline > 0
        else 0.0,
        "best_model": best,
        "gate": "promoted" if decision.promoted else "rejected",
        "gate_reason": decision.reason,
        "champion": f"{champion.name} v{champion.version}" if champion else "none",
        "failed_kinds": dg.MetadataValue.json(failed),
        "users": prep.data.n_users,
        "items": prep.data.n_items,
        "interactions": prep.data.nnz,
        **prep.describe(),
    }
    return value, meta


def _strategy_models(upstream: dict[str, Any]) -> "dict[str, tuple[ModelRef, Recommender]]":
    """The champion plus each model kind's version from this run (or the latest one)."""
    from models.registry import (
        CHAMPION_ALIAS,
        SERVING_MODEL,
        ModelRef,
        current_champion,
        latest_version,
        load_version,
        registered_name,
    )

    loaded: dict[str, tuple[ModelRef, Recommender]] = {}
    champion = current_champion()
    if champion is not None:
        loaded["champion"] = (champion[0], load_version(SERVING_MODEL, alias=CHAMPION_ALIAS))
    refs = upstream.get("refs", {})
    for model_type in (*BATCH_STRATEGIES, "popularity"):
        if model_type in refs:
            name, version = refs[model_type]
            ref: ModelRef | None = ModelRef(name, str(version), model_type)
        else:
            ref = latest_version(registered_name(model_type))
        if ref is not None:
            loaded[model_type] = (ref, load_version(ref.name, version=ref.version))
    return loaded


def build_bundle(
    models: "dict[str, tuple[ModelRef, Recommender]]",
    interactions: "pd.DataFrame",
    items: "pd.DataFrame",
    settings: Settings,
) -> "PublishBundle":
    """Everything one publish writes, from loaded models and the marts. Every user with history
    gets a list per strategy: the served composition (``models.served.publish_lists``) of the
    model's list and the popular list, without what the user saw, disliked or bought and
    without blocked items. An ALS trained on Spark is scored there (``pipelines.spark_publish``)."""
    from models.popularity import Popularity
    from models.served import publish_lists
    from pipelines.publish import PublishBundle, RankedLists
    from pipelines.spark_publish import SparkLists, scored_on_spark

    bundle = PublishBundle()
    users = users_with_history(interactions)
    popular: list[str] = []
    if "popularity" in models:
        ref, pop = models["popularity"]
        assert isinstance(pop, Popularity)
        bundle.popular = pop.top(settings.recs_top_n)
        bundle.popular_by_category = pop.by_category(settings.recs_top_n)
        bundle.models["popularity"] = (ref.name, ref.version)
        popular = [item for item, _ in bundle.popular]
    bundle.purchased = purchased_sets(interactions)
    bundle.disliked = disliked_sets(interactions)
    excluded = merge_sets(bundle.purchased, bundle.disliked)
    blocked = unavailable_ids(items, models)
    for strategy, (ref, model) in models.items():
        if strategy == "popularity":
            continue
        n = settings.recs_top_n
        if scored_on_spark(ref, model):  # where it was trained: Spark tasks write its lists
            bundle.recs[strategy] = SparkLists(model, users, popular, n, excluded, blocked)
        else:
            idx, scores = publish_lists(model, users, popular, n, excluded, blocked)
            bundle.recs[strategy] = RankedLists(users, model.item_ids, idx, scores)
        bundle.models[strategy] = (ref.name, ref.version)
    item_ids = items["item_id"].astype(str).tolist()
    sim_model = (models.get("hybrid") or models.get("champion") or (None, None))[1]
    if sim_model is not None:
        idx, scores = sim_model.similar_arrays(item_ids, settings.similar_top_n)
        bundle.similar = RankedLists(item_ids, sim_model.item_ids, idx, scores)
    bundle.history = user_history(interactions, settings.recs_history_n)
    bundle.items = item_infos(items)
    return bundle


def users_with_history(interactions: "pd.DataFrame") -> list[str]:
    """Every user in the interactions mart (no day window: a user active long ago still has a
    history worth a list)."""
    if interactions.empty:
        return []
    return sorted(interactions["user_id"].dropna().astype(str).unique())


def disliked_sets(interactions: "pd.DataFrame") -> dict[str, set[str]]:
    """Items each user rated below the positive threshold (``disliked``; absent: none)."""
    if "disliked" not in interactions.columns:
        return {}
    rows = interactions[interactions["disliked"].fillna(False).astype(bool)]
    sets: dict[str, set[str]] = {}
    for user, item in rows[["user_id", "item_id"]].itertuples(index=False):
        sets.setdefault(str(user), set()).add(str(item))
    return sets


def merge_sets(*parts: dict[str, set[str]]) -> dict[str, set[str]]:
    merged: dict[str, set[str]] = {}
    for part in parts:
        for owner, items in part.items():
            merged.setdefault(owner, set()).update(items)
    return merged


def unavailable_ids(
    items: "pd.DataFrame", models: "dict[str, tuple[ModelRef, Recommender]]"
) -> set[str]:
    """Items of the models' axes that serving would filter from any list (blocked, out of
    stock, not in the catalog): left out of the published lists so they keep their length."""
    from models.served import unavailable_items

    ids = {str(i) for _, model in models.values() for i in model.item_ids.tolist()}
    ordered = sorted(ids)
    mask = unavailable_items(items, ordered)
    return {item for item, bad in zip(ordered, mask, strict=True) if bad}


def user_history(interactions: "pd.DataFrame", n: int) -> dict[str, list[tuple[str, float]]]:
    frame = interactions
    if "disliked" in frame.columns:
        frame = frame[~frame["disliked"].fillna(False).astype(bool)]
    top = frame.sort_values(["user_id", "weight"], ascending=[True, False])
    top = top.groupby("user_id", sort=False).head(n)
    history: dict[str, list[tuple[str, float]]] = {}
    for user, item, weight in top[["user_id", "item_id", "weight"]].itertuples(index=False):
        history.setdefault(str(user), []).append((str(item), float(weight)))
    return history


def purchased_sets(interactions: "pd.DataFrame") -> dict[str, set[str]]:
    column = next((c for c in ("purchases", "n_purchases") if c in interactions.columns), None)
    if column is None:
        return {}
    bought = interactions[interactions[column].fillna(0) > 0]
    sets: dict[str, set[str]] = {}
    for user, item in bought[["user_id", "item_id"]].itertuples(index=False):
        sets.setdefault(str(user), set()).add(str(item))
    return sets


def item_infos(items: "pd.DataFrame") -> dict[str, dict[str, Any]]:
    """``keys.item_info`` fields. ``blocked`` comes from the catalog when it has the column;
    the publisher writes it as 0/1 (missing: 0), and 1 for any item in the admins'
    ``keys.BLOCKED_ITEMS`` set, so a publish never un-blocks what an admin blocked."""
    columns = [c for c in codec.ITEM_FIELDS if c in items.columns]
    frame = items.set_index(items["item_id"].astype(str))[columns]
    rows = frame.to_dict(orient="index")  # pandas-stubs key every level by Hashable
    return {str(k): cast(dict[str, Any], v) for k, v in rows.items()}


@dg.asset(
    group_name=GROUP,
    description="Batch recommendations (every user with history, each kind and the champion), "
    "similar items, popularity, histories and item info in Redis under a new version, made "
    "visible by one pointer flip.",
)
def published_recommendations(
    context: dg.AssetExecutionContext,
    recommender_evaluation: dict[str, Any],
    warehouse: WarehouseResource,
    redis: RedisResource,
    mlflow: MLflowResource,
) -> dg.MaterializeResult:
    from pipelines.publish import publish

    clock = time.perf_counter()
    settings = _setup(mlflow)
    models = _strategy_models(recommender_evaluation)
    if "champion" not in models:
        reason = "no champion registered yet: nothing published"
        context.log.warning(reason)
        return dg.MaterializeResult(metadata={"status": "skipped", "reason": reason})
    load_s = time.perf_counter() - clock
    interactions, items = load_marts(warehouse)
    bundle = build_bundle(models, interactions, items, settings)
    bundle_s = time.perf_counter() - clock - load_s
    client = redis.client()
    try:
        report = publish(client, bundle)
    finally:
        client.close()
    timings = {"load_models": load_s, "build_bundle": bundle_s, "publish": report.seconds}
    context.log.info(f"published {report.version}: {report.keys_written} keys")
    champion_ref = models["champion"][0]
    return dg.MaterializeResult(
        metadata={
            "version": report.version,
            "previous_version": report.previous or "none",
            "keys": report.keys_written,
            "keys_per_s": round(report.keys_per_s, 1),
            "seconds": round(report.seconds, 3),
            "users": report.users,
            "batch_users": f"every user with history ({report.users}); no day window",
            "timings": {step: round(seconds, 3) for step, seconds in timings.items()},
            "strategies": ", ".join(sorted(bundle.recs)),
            "champion": f"{champion_ref.name} v{champion_ref.version}",
            "champion_type": champion_ref.model_type,
            "champion_mlflow_run": run_link(mlflow, champion_ref.run_id),
            "dropped_scores": report.dropped_scores,
        }
    )


ASSETS = [
    recommender_training_data,
    *KIND_ASSETS.values(),
    recommender_evaluation,
    published_recommendations,
]
