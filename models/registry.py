"""MLflow: log runs, register each model type, and gate the serving champion.

Registered models: ``shopflow-<type>`` per model type (``shopflow-item-item``...) and
``shopflow-serving``, whose alias ``champion`` names the version serving uses. The alias moves
only when a candidate beats the champion's NDCG@k on the same split; otherwise the candidate's
run is tagged ``gate=rejected`` and the champion stays.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from models.base import Recommender
from models.evaluation import metric_table_markdown
from models.factory import load_model
from models.training import TrainingResult, evaluate_config

SERVING_MODEL = "shopflow-serving"
CHAMPION_ALIAS = "champion"


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


def log_and_register(result: TrainingResult, k: int) -> dict[str, ModelRef]:
    """Inside the active (parent) run: log the metric table, then one nested run per model
    type with params, metrics and the saved model, registered as ``shopflow-<type>``."""
    import mlflow

    client = _client()
    table_md = metric_table_markdown(result.table, k)
    mlflow.log_text(table_md, "metrics_table.md")
    mlflow.log_dict(result.table, "metrics_table.json")
    mlflow.set_tags({"split": result.split.fingerprint, "split_kind": result.split.kind})
    refs: dict[str, ModelRef] = {}
    for model_type, model in result.models.items():
        with mlflow.start_run(run_name=model_type, nested=True) as run:
            metrics = result.table[model_type]
            mlflow.set_tags({"kind": "model", "model_type": model_type})
            mlflow.log_params(_flat(result.params[model_type]))
            mlflow.log_metrics({f"{m}_at_{k}": v for m, v in metrics.items()})
            with tempfile.TemporaryDirectory() as tmp:
                model.save(Path(tmp) / "model")
                mlflow.log_artifacts(str(Path(tmp) / "model"), artifact_path="model")
            refs[model_type] = _register(
                client,
                registered_name(model_type),
                f"{run.info.artifact_uri}/model",
                run.info.run_id,
                _version_tags(model_type, result.params[model_type], result, k),
            )
    return refs


def _version_tags(
    model_type: str, params: dict[str, Any], result: TrainingResult, k: int
) -> dict[str, str]:
    return {
        "model_type": model_type,
        "params": json.dumps(params, sort_keys=True),
        "split": result.split.fingerprint,
        f"ndcg_at_{k}": repr(result.table[model_type]["ndcg"]),
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


def champion_gate(
    result: TrainingResult, refs: dict[str, ModelRef], k: int, min_delta: float = 0.0
) -> GateDecision:
    """Promote this run's best model only if it beats the champion's NDCG@k on this split.
    The champion's score is its recorded one when it was measured on the same split, else its
    configuration is refitted on this split's training part and evaluated."""
    client = _client()
    best = result.best
    candidate = refs[best]
    candidate_ndcg = result.table[best]["ndcg"]
    current = current_champion(client)
    champion_ndcg: float | None = None
    if current is not None:
        champion, tags = current
        champion_ndcg = _champion_score(tags, result, k)
        if not candidate_ndcg > champion_ndcg + min_delta:
            reason = (
                f"candidate {candidate.name} v{candidate.version} ndcg@{k}={candidate_ndcg:.4f} "
                f"does not beat champion v{champion.version} ({champion.model_type}) "
                f"ndcg@{k}={champion_ndcg:.4f} on split {result.split.fingerprint}"
            )
            client.set_tag(candidate.run_id, "gate", "rejected")
            client.set_tag(candidate.run_id, "gate_reason", reason)
            return GateDecision(False, reason, candidate, candidate_ndcg, champion, champion_ndcg)
    source = client.get_model_version(candidate.name, candidate.version).source
    tags = _version_tags(best, result.params[best], result, k)
    tags |= {"source_model": candidate.name, "source_version": candidate.version}
    serving = _register(client, SERVING_MODEL, source, candidate.run_id, tags)
    client.set_registered_model_alias(SERVING_MODEL, CHAMPION_ALIAS, serving.version)
    client.set_tag(candidate.run_id, "gate", "promoted")
    reason = (
        f"no champion yet; {best} ndcg@{k}={candidate_ndcg:.4f} becomes champion"
        if champion_ndcg is None
        else f"{best} ndcg@{k}={candidate_ndcg:.4f} beats champion ndcg@{k}={champion_ndcg:.4f}"
    )
    client.set_tag(candidate.run_id, "gate_reason", reason)
    return GateDecision(True, reason, candidate, candidate_ndcg, serving, champion_ndcg)


def _champion_score(tags: dict[str, str], result: TrainingResult, k: int) -> float:
    recorded = tags.get(f"ndcg_at_{k}")
    if tags.get("split") == result.split.fingerprint and recorded is not None:
        return float(recorded)
    params = json.loads(tags.get("params", "{}"))
    metrics = evaluate_config(tags["model_type"], params, result.split, result.catalog, k)
    return metrics["ndcg"]


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
