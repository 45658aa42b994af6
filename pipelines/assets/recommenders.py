"""Recommender assets: train, evaluate, register and gate the champion; publish to Redis.

Thin edges: the work is done by ``models`` (training, evaluation, MLflow registry) and
``pipelines.publish`` (the Redis writer); these assets read the marts and wire them up.
"""

import time
from typing import TYPE_CHECKING, Any, cast

import dagster as dg

from pipelines.resources import MLflowResource, RedisResource, WarehouseResource
from shopflow.config import Settings, get_settings
from shopflow.online_store import codec

if TYPE_CHECKING:  # heavy (pandas, scikit-learn, MLflow): imported where the assets run
    import pandas as pd

    from models.base import Recommender
    from models.popularity import Popularity
    from models.registry import ModelRef
    from models.tuning import Trial
    from pipelines.publish import PublishBundle

GROUP = "recommenders"
MART_DEPS = [dg.AssetKey("fct_interactions"), dg.AssetKey("dim_items")]
STRATEGIES = ("als", "bpr", "item_item", "content", "hybrid")


def load_marts(warehouse: WarehouseResource) -> "tuple[pd.DataFrame, pd.DataFrame]":
    """Read ``fct_interactions`` and ``dim_items`` with one short read-only connection."""
    with warehouse.connect(read_only=True) as con:
        interactions = con.execute("select * from fct_interactions").df()
        items = con.execute("select * from dim_items").df()
    return interactions, items


def _log_trial(model_type: str, trial: "Trial") -> None:
    from models.registry import log_trial

    log_trial(model_type, trial.params, trial.metrics)


@dg.asset(
    group_name=GROUP,
    deps=MART_DEPS,
    description="Tunes ALS, fits and evaluates every model type on a temporal split, logs "
    "them to MLflow, registers each type and moves the champion only when it wins.",
)
def recommender_evaluation(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MLflowResource
) -> dg.Output[dict[str, Any]]:
    import mlflow as mlf

    from models.evaluation import metric_table_markdown
    from models.registry import champion_gate, log_and_register, prepare_store
    from models.training import InsufficientData, TrainingConfig, train_and_evaluate

    started = time.perf_counter()
    settings = get_settings()
    prepare_store(mlflow.tracking_uri or settings.mlflow_uri)
    mlflow.setup()
    interactions, items = load_marts(warehouse)
    config = TrainingConfig.from_settings(settings)
    setup_s = time.perf_counter() - started
    with mlf.start_run(run_name="recommenders") as run:
        try:
            result = train_and_evaluate(interactions, items, config, on_trial=_log_trial)
        except InsufficientData as exc:
            reason = f"not trained, champion unchanged: {exc}"
            mlf.set_tags({"status": "skipped", "reason": reason})
            context.log.warning(reason)
            value = {"status": "skipped", "reason": reason, "run_id": run.info.run_id}
            return dg.Output(value, metadata={"status": "skipped", "reason": reason})
        t0 = time.perf_counter()
        refs = log_and_register(result, config.k)
        decision = champion_gate(result, refs, config.k)
        timings = {"setup": round(setup_s, 3), **result.timings}
        timings["register_and_gate"] = round(time.perf_counter() - t0, 3)
        mlf.log_dict(timings, "timings.json")
        mlf.set_tags({"status": "trained", "gate": "promoted" if decision.promoted else "rejected"})
    context.log.info(decision.reason)
    table_md = metric_table_markdown(result.table, config.k)
    value = {
        "status": "trained",
        "run_id": run.info.run_id,
        "split": result.split.fingerprint,
        "best": result.best,
        "table": result.table,
        "refs": {name: [ref.name, ref.version] for name, ref in refs.items()},
        "decision": decision.as_dict(),
    }
    champion = decision.champion
    metadata = {
        "metrics": dg.MetadataValue.md(table_md),
        "split": f"{result.split.kind} ({result.split.fingerprint}), "
        f"{len(result.split.test_users)} test users",
        "best_model": result.best,
        "gate": "promoted" if decision.promoted else "rejected",
        "gate_reason": decision.reason,
        "champion": f"{champion.name} v{champion.version}" if champion else "none",
        "mlflow_run_id": run.info.run_id,
        "timings": timings,
        "tuning": f"{sum(len(t) for t in result.trials.values())} trials, "
        f"budget {result.tuning_budget_s:g} s",
        "seconds": round(time.perf_counter() - started, 3),
        "users": result.data.n_users,
        "items": result.data.n_items,
        "interactions": result.data.nnz,
    }
    return dg.Output(value, metadata=metadata)


def _strategy_models(upstream: dict[str, Any]) -> "dict[str, tuple[ModelRef, Recommender]]":
    """The champion plus each model type's version from this run (or the latest one)."""
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
    for model_type in (*STRATEGIES, "popularity"):
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
    """Everything one publish writes, from loaded models and the marts."""
    from pipelines.publish import PublishBundle, RankedLists

    bundle = PublishBundle()
    users = active_users(interactions, settings.recs_active_days)
    for strategy, (ref, model) in models.items():
        if strategy == "popularity":
            continue
        idx, scores = model.recommend_arrays(users, settings.recs_top_n)
        bundle.recs[strategy] = RankedLists(users, model.item_ids, idx, scores)
        bundle.models[strategy] = (ref.name, ref.version)
    item_ids = items["item_id"].astype(str).tolist()
    sim_model = (models.get("hybrid") or models.get("champion") or (None, None))[1]
    if sim_model is not None:
        idx, scores = sim_model.similar_arrays(item_ids, settings.similar_top_n)
        bundle.similar = RankedLists(item_ids, sim_model.item_ids, idx, scores)
    if "popularity" in models:
        ref, model = models["popularity"]
        pop = cast("Popularity", model)  # the popularity strategy's model
        bundle.popular = pop.top(settings.recs_top_n)
        bundle.popular_by_category = pop.by_category(settings.recs_top_n)
        bundle.models["popularity"] = (ref.name, ref.version)
    bundle.history = user_history(interactions, settings.recs_history_n)
    bundle.purchased = purchased_sets(interactions)
    bundle.items = item_infos(items)
    return bundle


def active_users(interactions: "pd.DataFrame", days: int) -> list[str]:
    """Users with an interaction in the last ``days`` before the newest one."""
    import pandas as pd

    if interactions.empty:
        return []
    last = pd.to_datetime(interactions["last_at"], utc=True)
    recent = last >= last.max() - pd.Timedelta(days=days)
    return sorted(interactions.loc[recent, "user_id"].astype(str).unique())


def user_history(interactions: "pd.DataFrame", n: int) -> dict[str, list[tuple[str, float]]]:
    top = interactions.sort_values(["user_id", "weight"], ascending=[True, False])
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
    description="Batch recommendations, similar items, popularity, histories and item info "
    "in Redis under a new version, made visible by one pointer flip.",
)
def published_recommendations(
    context: dg.AssetExecutionContext,
    recommender_evaluation: dict[str, Any],
    warehouse: WarehouseResource,
    redis: RedisResource,
    mlflow: MLflowResource,
) -> dg.MaterializeResult:
    from models.registry import prepare_store
    from pipelines.publish import publish

    clock = time.perf_counter()
    settings = get_settings()
    prepare_store(mlflow.tracking_uri or settings.mlflow_uri)
    mlflow.setup()
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
    return dg.MaterializeResult(
        metadata={
            "version": report.version,
            "previous_version": report.previous or "none",
            "keys": report.keys_written,
            "keys_per_s": round(report.keys_per_s, 1),
            "seconds": round(report.seconds, 3),
            "users": report.users,
            "timings": {step: round(seconds, 3) for step, seconds in timings.items()},
            "strategies": ", ".join(sorted(bundle.recs)),
            "champion": f"{models['champion'][0].name} v{models['champion'][0].version}",
            "dropped_scores": report.dropped_scores,
        }
    )


ASSETS = [recommender_evaluation, published_recommendations]
