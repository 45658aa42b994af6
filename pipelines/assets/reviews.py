"""Review spam classifier: trained on every labelled review (moderators' decisions and
imported labels, dbt model ``stg_review_labels``), gated against the TF-IDF + logistic
regression baseline and the champion on one held-out split, tracked in MLflow, and written
where the review service loads it (``commerce.reviews.spam.classifier_path``) only when it
wins. Too few labels of one class leave the rules in charge, and the metadata says so."""

import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from commerce.reviews.spam import classifier_path, load_classifier
from models.spam import Comparison, Metrics, ReviewSample, compare, review_text
from pipelines.resources import MLflowResource, WarehouseResource
from shopflow.config import get_settings

MIN_PER_CLASS = 10
MLFLOW_RUN_NAME = "review-spam-classifier"
REGISTERED_MODEL = "shopflow-review-spam"
CHAMPION_ALIAS = "champion"
#: The dbt model with the labelled reviews (warehouse/models/staging/stg_review_labels.sql).
LABELS_MODEL = "stg_review_labels"
LABELS_RELATION = f"staging.{LABELS_MODEL}"


def labelled_samples(con: duckdb.DuckDBPyConnection) -> tuple[list[ReviewSample], list[int]]:
    """(samples, labels) from the dbt model; empty when it is not built yet. A review's
    product mean is that of the product's other genuine labelled reviews, its author history
    the author's earlier labelled reviews (what the service sees when a review arrives)."""
    found = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'staging' and table_name = ?",
        [LABELS_MODEL],
    ).fetchone()
    if not found or not found[0]:
        return [], []
    rows = con.execute(
        f"select title, body, item_id, user_id, rating, is_spam from {LABELS_RELATION} "
        "order by submitted_at, review_id"
    ).fetchall()
    ham_sum: dict[str, float] = defaultdict(float)
    ham_count: dict[str, int] = defaultdict(int)
    for _, _, item, _, rating, spam in rows:
        if not spam and rating is not None:
            ham_sum[item] += rating
            ham_count[item] += 1
    earlier: dict[str, int] = defaultdict(int)
    samples, labels = [], []
    for title, body, item, user, rating, spam in rows:
        own = 0 if spam or rating is None else 1
        others = ham_count[item] - own
        mean = (ham_sum[item] - (rating if own else 0)) / others if others else None
        samples.append(ReviewSample(review_text(title, body), rating, mean, earlier[user]))
        earlier[user] += 1
        labels.append(int(spam))
    return samples, labels


def labelled_reviews(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[int]]:
    """(texts, labels) of the labelled reviews."""
    samples, labels = labelled_samples(con)
    return [s.text for s in samples], labels


@dg.asset(
    deps=[dg.AssetKey(LABELS_MODEL)],
    group_name="reviews",
    kinds={"scikitlearn", "mlflow"},
    description=(
        "Review spam classifier (word + character n-grams, length and punctuation statistics, "
        "rating against the product mean, author history; calibrated logistic regression), "
        "its threshold chosen for review_spam_min_precision; promoted only when it beats the "
        "TF-IDF + logistic regression baseline and the champion on the same held-out split."
    ),
)
def spam_classifier(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MLflowResource
) -> dg.MaterializeResult:
    settings = get_settings()
    with warehouse.connect(read_only=True) as con:
        samples, labels = labelled_samples(con)
    spam = sum(labels)
    genuine = len(labels) - spam
    if min(spam, genuine) < MIN_PER_CLASS:
        champion = load_classifier(settings)
        in_charge = f"champion v{champion.version}" if champion else "the text rules alone"
        message = (
            f"not enough labelled reviews to train ({spam} spam, {genuine} genuine; need "
            f"{MIN_PER_CLASS} of each): {in_charge} keep judging new reviews"
        )
        context.log.warning(message)
        return dg.MaterializeResult(
            metadata={"trained": False, "labelled": len(labels), "spam": spam,
                      "genuine": genuine, "in_charge": in_charge, "reason": message}
        )  # fmt: skip
    champion = load_classifier(settings)
    result = compare(samples, labels, settings.review_spam_min_precision, champion)
    run_id, version = _track(mlflow, result, spam / len(labels))
    path = classifier_path(settings)
    if result.model is not None:
        result.model.version = version
        result.model.save(path)
    context.log.info(f"spam classifier: {result.reason}; promoted: {result.promote or 'nothing'}")
    c, b = result.candidate, result.baseline
    metadata: dict[str, Any] = {
        "trained": True,
        "promoted": result.promote or "nothing",
        "gate_reason": result.reason,
        "precision": c.precision,
        "recall": c.recall,
        "f1": c.f1,
        "threshold": c.threshold,
        "precision_target": settings.review_spam_min_precision,
        "precision_target_met": result.precision_target_met,
        "baseline_f1": b.f1,
        "baseline_precision": b.precision,
        "baseline_recall": b.recall,
        "n_train": c.n_train,
        "n_test": c.n_test,
        "spam_rate": spam / len(labels),
        "mlflow_run_id": run_id,
        "model_version": version or "none",
        "path": str(path),
    }
    if result.champion is not None:
        metadata["champion_f1"] = result.champion.f1
    return dg.MaterializeResult(metadata=metadata)


def _track(
    resource: MLflowResource, result: Comparison, spam_rate: float
) -> tuple[str, str | None]:
    """Log the run (figures of all three on the split), register the promoted model and
    point the ``champion`` alias at it. Returns (run id, registered version or None)."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    resource.setup()
    with mlflow.start_run(run_name=MLFLOW_RUN_NAME) as run:
        mlflow.set_tags({"model_type": "review_spam", "gate_reason": result.reason,
                         "gate": "promoted" if result.promote else "rejected"})  # fmt: skip
        mlflow.log_params({
            "features": "tfidf words 1-2 + chars 3-5, text stats, rating gap, author history",
            "model": "logreg C=10 balanced, sigmoid calibration", "promoted": result.promote,
        })  # fmt: skip
        figures = {"candidate": result.candidate, "baseline": result.baseline,
                   "champion": result.champion}  # fmt: skip
        mlflow.log_metrics({"spam_rate": spam_rate, **_metrics("", result.candidate)})
        for name, metrics in figures.items():
            if metrics is not None:
                mlflow.log_metrics(_metrics(f"{name}_", metrics))
        if result.model is None:
            return run.info.run_id, None
        with tempfile.TemporaryDirectory() as tmp:
            artifact = result.model.save(Path(tmp) / "classifier.joblib")
            mlflow.log_artifact(str(artifact), artifact_path="spam_classifier")
        client = MlflowClient()
        try:
            client.create_registered_model(REGISTERED_MODEL)
        except MlflowException as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                raise
        source = f"{run.info.artifact_uri}/spam_classifier"
        tags = {"kind": result.promote or "", "threshold": repr(result.model.threshold)}
        mv = client.create_model_version(
            REGISTERED_MODEL, source, run_id=run.info.run_id, tags=tags
        )
        client.set_registered_model_alias(REGISTERED_MODEL, CHAMPION_ALIAS, mv.version)
        return run.info.run_id, f"{REGISTERED_MODEL}/{mv.version}"


def _metrics(prefix: str, m: Metrics) -> dict[str, float]:
    return {
        f"{prefix}{k}": float(getattr(m, k)) for k in ("precision", "recall", "f1", "threshold")
    }


ASSETS = [spam_classifier]
