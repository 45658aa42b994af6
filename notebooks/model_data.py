"""MLflow data for the model report: each training run's models side by side, the registered
aliases (``champion``...) beside the runs they came from, and the tuning trials apart.

Run shapes (see models/registry.py and pipelines/assets/recommenders.py): a model run is tagged
``kind=model`` with ``val_/test_<metric>_at_<k>`` metrics; the models of one training run share
a parent run (``log_and_register``) or, from the pipeline, the data split they were scored on.
Tuning trials are nested runs tagged ``kind=tuning-trial`` with ``<metric>_at_k`` metrics.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from shopflow.config import Settings, get_settings

TEST_NDCG = re.compile(r"^metrics\.test_ndcg_at_(\d+)$")


def mlflow_runs(settings: Settings | None = None) -> pd.DataFrame:
    """Every run of the recommender experiment, oldest first; empty without a store."""
    import mlflow

    settings = settings or get_settings()
    if not settings.mlflow_tracking_uri and not (settings.home_dir / "mlflow.db").exists():
        return pd.DataFrame()
    mlflow.set_tracking_uri(settings.mlflow_uri)
    if mlflow.get_experiment_by_name(settings.mlflow_experiment) is None:
        return pd.DataFrame()
    runs = mlflow.search_runs(experiment_names=[settings.mlflow_experiment])
    return runs.sort_values("start_time").reset_index(drop=True) if not runs.empty else runs


def _tag(runs: pd.DataFrame, name: str) -> pd.Series:
    column = f"tags.{name}"
    return runs[column] if column in runs.columns else pd.Series(None, index=runs.index)


def cutoff(runs: pd.DataFrame) -> int | None:
    """The ``k`` the models were scored at (the largest logged), or None without model runs."""
    ks = [int(m.group(1)) for c in runs.columns if (m := TEST_NDCG.match(c))]
    return max(ks) if ks else None


def model_comparison(runs: pd.DataFrame, aliases: dict[str, list[str]]) -> pd.DataFrame:
    """One row per model of each training run, with only rows that hold metrics:
    ``training run, started, model, aliases, test/val metrics@k, run_id``."""
    k = cutoff(runs)
    if runs.empty or k is None:
        return pd.DataFrame()
    models = runs[_tag(runs, "kind") == "model"].copy()
    metric_cols = {
        f"metrics.test_{m}_at_{k}": f"test {m}@{k}" for m in ("ndcg", "recall", "precision")
    } | {f"metrics.val_ndcg_at_{k}": f"validation ndcg@{k}"}
    metric_cols = {c: n for c, n in metric_cols.items() if c in models.columns}
    models = models.dropna(subset=list(metric_cols), how="all")
    if models.empty:
        return pd.DataFrame()
    group = _tag(models, "mlflow.parentRunId").fillna(_tag(models, "split")).fillna("-")
    parent_start = group.map(runs.set_index("run_id")["start_time"])
    started = parent_start.fillna(models.groupby(group)["start_time"].transform("min"))
    out = pd.DataFrame(
        {
            "training run": started.dt.strftime("%Y-%m-%d %H:%M:%S UTC")
            + " · "
            + group.astype(str).str[:8],
            "started": started,
            "model": _tag(models, "model_type").fillna(_tag(models, "mlflow.runName")),
            "aliases": models["run_id"].map(lambda r: ", ".join(aliases.get(r, [])) or "-"),
        }
    )
    for column, name in metric_cols.items():
        out[name] = models[column].round(4)
    out["run_id"] = models["run_id"]
    return out.sort_values(["started", "model"]).reset_index(drop=True)


def side_by_side(comparison: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``training run`` x model table of ``metric``, runs in the order they started (for a
    grouped bar chart; a model a run did not train has no bar)."""
    if comparison.empty or metric not in comparison.columns:
        return pd.DataFrame()
    table = comparison.pivot_table(
        index="training run", columns="model", values=metric, aggfunc="last"
    )
    started = comparison.sort_values("started")["training run"].drop_duplicates()
    return table.reindex(started).reset_index()


def tuning_trials(runs: pd.DataFrame, since: pd.Timestamp | None = None) -> pd.DataFrame:
    """Trial number (per model) x model table of each trial's validation NDCG, for the trials
    started at or after ``since`` (the latest training run's start)."""
    if runs.empty or "metrics.ndcg_at_k" not in runs.columns:
        return pd.DataFrame()
    trials = runs[_tag(runs, "kind") == "tuning-trial"].dropna(subset=["metrics.ndcg_at_k"])
    if since is not None:
        trials = trials[trials["start_time"] >= since]
    if trials.empty:
        return pd.DataFrame()
    model = _tag(trials, "model_type")
    trial = trials.groupby(model).cumcount() + 1
    frame = pd.DataFrame({"trial": trial, "model": model, "ndcg": trials["metrics.ndcg_at_k"]})
    table = frame.pivot_table(index="trial", columns="model", values="ndcg", aggfunc="last")
    return table.reset_index()


def registered_aliases(settings: Settings | None = None) -> pd.DataFrame:
    """Every alias of every registered model: ``model, alias, version, model type, run_id``."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    settings = settings or get_settings()
    if not settings.mlflow_tracking_uri and not (settings.home_dir / "mlflow.db").exists():
        return pd.DataFrame()
    client = MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)
    rows: list[dict[str, Any]] = []
    try:
        for model in client.search_registered_models():
            for alias, version in sorted((model.aliases or {}).items()):
                mv = client.get_model_version(model.name, str(version))
                rows.append(
                    {
                        "registered model": model.name,
                        "alias": alias,
                        "version": int(version),
                        "model type": dict(mv.tags).get("model_type", "-"),
                        "run_id": mv.run_id,
                    }
                )
    except MlflowException:
        return pd.DataFrame()
    return pd.DataFrame(rows)


def aliases_by_run(aliases: pd.DataFrame) -> dict[str, list[str]]:
    """run id -> ``["shopflow-serving@champion", ...]``."""
    out: dict[str, list[str]] = {}
    for row in aliases.itertuples(index=False):
        out.setdefault(row.run_id, []).append(f"{row[0]}@{row.alias}")
    return out
