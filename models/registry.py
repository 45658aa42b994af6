"""MLflow: log runs, register each model type, and gate the serving champion.

Registered models: ``shopflow-<type>`` per model type (``shopflow-item-item``...) and
``shopflow-serving``, whose alias ``champion`` names the version serving uses. The alias moves
only when a candidate's served NDCG@k on the per-user test split beats the champion's (re-scored
on the same split) and both baselines' (``models.kinds.BASELINES``); otherwise the candidate's
run is tagged ``gate=rejected`` with the reason naming the figure that lost, and the champion
stays.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from models.base import Recommender
from models.evaluation import metric_table_markdown
from models.factory import load_model
from models.training import (
    KindResult,
    Prepared,
    TrainingConfig,
    TrainingResult,
    evaluate_config,
)

SERVING_MODEL = "shopflow-serving"
CHAMPION_ALIAS = "champion"
#: The experiment tag MLflow 3's UI reads to pick its view; this value opens the model-training
#: view (runs, metrics, models) instead of the GenAI one (traces, "No data available").
EXPERIMENT_KIND_TAG = ("mlflow.experimentKind", "custom_model_development")


def registered_name(model_type: str) -> str:
    return f"shopflow-{model_type.replace('_', '-')}"


@dataclass
class ModelRef:
    """One registered model version."""

    name: str
    version: str
    model_type: str
    run_id: str = ""


@dataclass
class GateDecision:
    promoted: bool
    reason: str
    candidate: ModelRef | None
    candidate_ndcg: float | None
    champion: ModelRef | None  # the champion after the decision
    champion_ndcg: float | None  # the previous champion's NDCG on the same split
    figures: dict[str, float] | None = None  # what the candidate had to beat

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def store_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shopflow"


def prepare_store(uri: str) -> None:
    """Give a new SQLite tracking store the current schema by copying an empty template,
    instead of MLflow's ~50 Alembic migrations (10+ s on a fresh data dir). The template is
    built once per MLflow version in :func:`store_cache_dir`, without the default experiment
    (MLflow creates it, with this store's artifact location, on first use). Other URIs and
    existing files are left alone."""
    import mlflow

    if not uri.startswith("sqlite:///"):
        return
    path = Path(uri.removeprefix("sqlite:///"))
    if path.exists() and path.stat().st_size > 0:
        return
    template = store_cache_dir() / f"mlflow-{mlflow.__version__}-empty.db"
    if not template.exists():
        _build_template(template)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    shutil.copyfile(template, partial)
    os.replace(partial, path)


def _build_template(template: Path) -> None:
    from mlflow import MlflowClient

    template.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=template.parent) as tmp:
        db = Path(tmp) / "mlflow.db"
        MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()  # migrates the schema
        with contextlib.closing(sqlite3.connect(db)) as con, con:
            con.execute("DELETE FROM experiments WHERE experiment_id = 0")
        os.replace(db, template)  # atomic: a concurrent builder's copy is as good


def use_experiment(name: str, artifacts_dir: Path) -> str:
    """Create experiment ``name`` (artifacts under ``artifacts_dir``) if it is missing, tag it
    as model training (:data:`EXPERIMENT_KIND_TAG`, also on older stores) and make it active.
    Returns its id."""
    import mlflow

    if mlflow.get_experiment_by_name(name) is None:
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        mlflow.create_experiment(name, artifact_location=artifacts_dir.as_uri())
    experiment = mlflow.set_experiment(name)
    mlflow.set_experiment_tag(*EXPERIMENT_KIND_TAG)
    return str(experiment.experiment_id)


def _client() -> Any:
    from mlflow import MlflowClient

    return MlflowClient()


def _flat(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flat(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def log_trial(model_type: str, params: dict[str, Any], metrics: dict[str, float]) -> None:
    """One nested run per tuning trial (call inside the parent run)."""
    import mlflow

    with mlflow.start_run(run_name=f"tune-{model_type}", nested=True):
        mlflow.set_tags({"kind": "tuning-trial", "model_type": model_type})
        mlflow.log_params(_flat(params))
        mlflow.log_metrics({f"{m}_at_k": v for m, v in metrics.items()})


def log_kind(result: KindResult, split: str, k: int) -> ModelRef:
    """Inside an active run: params, served metrics (``val_``, ``test_``, ``time_``), the model
    saved as an artifact and registered as ``shopflow-<kind>``."""
    import mlflow

    assert result.model is not None
    run = mlflow.active_run()
    assert run is not None
    mlflow.set_tags({"kind": "model", "model_type": result.kind, "split": split})
    mlflow.log_params(_flat(result.params))
    for prefix, metrics in (("val", result.validation), ("test", result.test),
                            ("time", result.time_view)):  # fmt: skip
        mlflow.log_metrics({f"{prefix}_{m}_at_{k}": v for m, v in metrics.items()})
    with tempfile.TemporaryDirectory() as tmp:
        result.model.save(Path(tmp) / "model")
        mlflow.log_artifacts(str(Path(tmp) / "model"), artifact_path="model")
    tags = version_tags(result.kind, result.params, split, result.test["ndcg"], k)
    tags["val_ndcg"] = repr(result.validation.get("ndcg", 0.0))
    return _register(
        _client(), registered_name(result.kind), f"{run.info.artifact_uri}/model",
        run.info.run_id, tags,
    )  # fmt: skip


def log_and_register(result: TrainingResult, k: int) -> dict[str, ModelRef]:
    """Inside the active (parent) run: log the metric tables, then one nested run per model
    type with params, metrics and the saved model, registered as ``shopflow-<type>``."""
    import mlflow

    log_tables(result.table, result.baselines, result.validation_table, result.time_table, k)
    mlflow.set_tags({"split": result.split.fingerprint, "split_kind": result.split.kind})
    refs: dict[str, ModelRef] = {}
    for model_type, model in result.models.items():
        with mlflow.start_run(run_name=model_type, nested=True):
            kind = KindResult(
                model_type, result.params[model_type], [],
                result.validation_table.get(model_type, {}), result.table[model_type],
                result.time_table.get(model_type, {}), model,
            )  # fmt: skip
            refs[model_type] = log_kind(kind, result.split.fingerprint, k)
    return refs


def log_tables(
    table: dict[str, dict[str, float]],
    baselines: dict[str, dict[str, float]],
    validation: dict[str, dict[str, float]],
    time_view: dict[str, dict[str, float]],
    k: int,
) -> str:
    """Log the served metric tables (test with baselines, validation, time view) to the active
    run; returns the test table as Markdown."""
    import mlflow

    full = {**table, **{f"baseline:{n}": m for n, m in baselines.items()}}
    table_md = metric_table_markdown(full, k)
    mlflow.log_text(table_md, "metrics_table.md")
    mlflow.log_dict(full, "metrics_table.json")
    mlflow.log_dict(validation, "validation_table.json")
    mlflow.log_dict(time_view, "time_view_table.json")
    if time_view:
        mlflow.log_text(metric_table_markdown(time_view, k), "time_view_table.md")
    for name, metrics in baselines.items():
        mlflow.log_metrics({f"baseline_{name}_{m}_at_{k}": v for m, v in metrics.items()})
    return table_md


def version_tags(
    model_type: str, params: dict[str, Any], split: str, ndcg: float, k: int
) -> dict[str, str]:
    return {
        "model_type": model_type,
        "params": json.dumps(params, sort_keys=True),
        "split": split,
        f"ndcg_at_{k}": repr(ndcg),
    }


def _register(client: Any, name: str, source: str, run_id: str, tags: dict[str, str]) -> ModelRef:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise
    version = client.create_model_version(name, source, run_id=run_id, tags=tags)
    return ModelRef(name, str(version.version), tags["model_type"], run_id)


def current_champion(client: Any | None = None) -> tuple[ModelRef, dict[str, str]] | None:
    from mlflow.exceptions import MlflowException

    client = client or _client()
    try:
        version = client.get_model_version_by_alias(SERVING_MODEL, CHAMPION_ALIAS)
    except MlflowException:
        return None
    tags = dict(version.tags)
    ref = ModelRef(SERVING_MODEL, str(version.version), tags.get("model_type", ""), version.run_id)
    return ref, tags


def gate_verdict(candidate: str, ndcg: float, figures: dict[str, float], k: int,
                 min_delta: float = 0.0) -> tuple[bool, str]:  # fmt: skip
    """Whether ``ndcg`` beats every figure (champion, baselines) by more than ``min_delta``;
    the reason names the first figure that it does not beat."""
    for name, value in figures.items():
        if not ndcg > value + min_delta:
            return False, (
                f"candidate {candidate} ndcg@{k}={ndcg:.4f} does not beat {name} "
                f"ndcg@{k}={value:.4f}"
            )
    beaten = ", ".join(f"{name} {value:.4f}" for name, value in figures.items())
    return True, f"candidate {candidate} ndcg@{k}={ndcg:.4f} beats {beaten or 'nothing yet'}"


def champion_gate(
    result: TrainingResult,
    refs: dict[str, ModelRef],
    k: int,
    min_delta: float = 0.0,
    config: TrainingConfig | None = None,
) -> GateDecision:
    """Promote this run's best model (by validation) only if its served test NDCG@k beats the
    champion's and both baselines'."""
    best = result.best
    assert result.prepared is not None
    config = config or TrainingConfig(k=k)

    def rescore(model_type: str, params: dict[str, Any]) -> float:
        assert result.prepared is not None
        return evaluate_config(model_type, params, result.prepared, config)["ndcg"]

    baselines = {name: m["ndcg"] for name, m in result.baselines.items()}
    prep = result.prepared
    return gate(
        best, refs[best], result.table[best]["ndcg"], result.params[best], baselines,
        result.split.fingerprint, rescore, k, min_delta,
        lambda name: bootstrap_baseline(name, prep, baselines[name], k),
    )  # fmt: skip


def bootstrap_baseline(
    name: str, prep: Prepared, ndcg: float, k: int
) -> tuple[ModelRef, dict[str, Any]]:
    """Fit baseline ``name`` on all data and register it (see :func:`register_baseline`)."""
    from models.factory import build
    from models.kinds import BASELINES

    kind, params = BASELINES[name]
    model = build(kind, params).fit(prep.data, prep.catalog)
    return register_baseline(name, kind, model, prep.test.fingerprint, ndcg, k)


def gate(
    kind: str,
    candidate: ModelRef,
    candidate_ndcg: float,
    params: dict[str, Any],
    baselines: dict[str, float],
    split: str,
    rescore: Callable[[str, dict[str, Any]], float],
    k: int,
    min_delta: float = 0.0,
    bootstrap: Callable[[str], tuple[ModelRef, dict[str, Any]]] | None = None,
) -> GateDecision:
    """Compare the candidate with the champion (its recorded score when measured on the same
    ``split``, else ``rescore(type, params)``) and the baselines; move the alias only on a win.

    With no champion yet and a losing candidate, ``bootstrap(baseline name)`` registers the best
    baseline (returning its version and params) and that baseline becomes the champion, so
    serving never starts from a model worse than a baseline, nor from nothing."""
    client = _client()
    current = current_champion(client)
    figures: dict[str, float] = {}
    champion_ndcg: float | None = None
    champion: ModelRef | None = None
    if current is not None:
        champion, tags = current
        champion_ndcg = _champion_score(tags, split, rescore, k)
        figures[f"champion v{champion.version} ({champion.model_type})"] = champion_ndcg
    figures.update({f"baseline {name}": value for name, value in baselines.items()})
    passed, reason = gate_verdict(f"{kind} v{candidate.version}", candidate_ndcg, figures, k,
                                  min_delta)  # fmt: skip
    client.set_tag(candidate.run_id, "gate_reason", reason)
    if not passed:
        client.set_tag(candidate.run_id, "gate", "rejected")
        if current is None and bootstrap is not None and baselines:
            name = max(baselines, key=lambda n: baselines[n])
            ref, base_params = bootstrap(name)
            serving = _promote(client, ref, base_params, split, baselines[name], k)
            reason += f"; no champion yet: baseline {name} becomes champion"
            return GateDecision(False, reason, candidate, candidate_ndcg, serving, None, figures)
        return GateDecision(
            False, reason, candidate, candidate_ndcg, champion, champion_ndcg, figures
        )
    serving = _promote(client, candidate, params, split, candidate_ndcg, k)
    client.set_tag(candidate.run_id, "gate", "promoted")
    return GateDecision(True, reason, candidate, candidate_ndcg, serving, champion_ndcg, figures)


def _promote(
    client: Any, ref: ModelRef, params: dict[str, Any], split: str, ndcg: float, k: int
) -> ModelRef:
    """Register ``ref``'s artifacts as a ``shopflow-serving`` version and point the alias."""
    source = client.get_model_version(ref.name, ref.version).source
    tags = version_tags(ref.model_type, params, split, ndcg, k)
    tags |= {"source_model": ref.name, "source_version": ref.version}
    serving = _register(client, SERVING_MODEL, source, ref.run_id, tags)
    client.set_registered_model_alias(SERVING_MODEL, CHAMPION_ALIAS, serving.version)
    return serving


def register_baseline(
    name: str, kind: str, model: Recommender, split: str, ndcg: float, k: int
) -> tuple[ModelRef, dict[str, Any]]:
    """Log a baseline fitted on all data in a nested run and register it as
    ``shopflow-baseline-<name>`` (call inside the active run)."""
    import mlflow

    with mlflow.start_run(run_name=f"baseline-{name}", nested=True) as run:
        mlflow.set_tags({"kind": "baseline", "model_type": kind, "baseline": name})
        mlflow.log_params(_flat(model.params()))
        with tempfile.TemporaryDirectory() as tmp:
            model.save(Path(tmp) / "model")
            mlflow.log_artifacts(str(Path(tmp) / "model"), artifact_path="model")
        tags = version_tags(kind, model.params(), split, ndcg, k)
        ref = _register(
            _client(), registered_name(f"baseline-{name}"), f"{run.info.artifact_uri}/model",
            run.info.run_id, tags,
        )  # fmt: skip
    return ref, model.params()


def _champion_score(
    tags: dict[str, str], split: str, rescore: Callable[[str, dict[str, Any]], float], k: int
) -> float:
    recorded = tags.get(f"ndcg_at_{k}")
    if tags.get("split") == split and recorded is not None:
        return float(recorded)
    return rescore(tags["model_type"], json.loads(tags.get("params", "{}")))


def load_version(name: str, version: str | None = None, alias: str | None = None) -> Recommender:
    """Load a registered model version (or the one an alias names) from its artifacts."""
    import mlflow

    ref = f"models:/{name}@{alias}" if alias else f"models:/{name}/{version}"
    return load_model(mlflow.artifacts.download_artifacts(artifact_uri=ref))


def latest_version(name: str) -> ModelRef | None:
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return None
    if not versions:
        return None
    newest = max(versions, key=lambda v: int(v.version))
    tags = dict(newest.tags)
    return ModelRef(name, str(newest.version), tags.get("model_type", ""), newest.run_id)
