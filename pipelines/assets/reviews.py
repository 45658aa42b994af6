"""Review spam classifier: trained on past moderation decisions, logged to MLflow, and
written where the review service loads it (``commerce.reviews.spam.classifier_path``)."""

import tempfile
from pathlib import Path

import dagster as dg
import duckdb

from commerce.reviews.spam import classifier_path
from models.spam import SpamClassifier, review_text, train_and_evaluate
from pipelines.resources import MLflowResource, WarehouseResource
from shopflow.config import get_settings

MIN_PER_CLASS = 10
MLFLOW_RUN_NAME = "review-spam-classifier"
#: The dbt model with the labelled texts (warehouse/models/staging/stg_review_labels.sql).
LABELS_MODEL = "stg_review_labels"
LABELS_RELATION = f"staging.{LABELS_MODEL}"


def labelled_reviews(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[int]]:
    """(texts, labels) from the dbt model; empty when it is not built yet."""
    found = con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'staging' and table_name = ?",
        [LABELS_MODEL],
    ).fetchone()
    if not found or not found[0]:
        return [], []
    rows = con.execute(
        f"select title, body, is_spam from {LABELS_RELATION} order by review_id"
    ).fetchall()
    return [review_text(t, b) for t, b, _ in rows], [int(s) for _, _, s in rows]


@dg.asset(
    deps=[dg.AssetKey(LABELS_MODEL)],
    group_name="reviews",
    kinds={"scikitlearn", "mlflow"},
    description=(
        "Text classifier of review spam, trained on past moderation decisions "
        "(dbt model stg_review_labels); precision and recall on a held-out split are logged to "
        "MLflow and to this asset's metadata."
    ),
)
def spam_classifier(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, mlflow: MLflowResource
) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        texts, labels = labelled_reviews(con)
    spam = sum(labels)
    if min(spam, len(labels) - spam) < MIN_PER_CLASS:
        context.log.warning(
            f"not enough labelled reviews to train ({spam} spam, {len(labels) - spam} genuine; "
            f"need {MIN_PER_CLASS} of each); the previous classifier stays in place"
        )
        return dg.MaterializeResult(metadata={"trained": False, "labelled": len(labels)})
    model, metrics = train_and_evaluate(texts, labels)
    path = classifier_path(get_settings())
    run_id = _log_to_mlflow(mlflow, model, metrics.__dict__)
    model.save(path)
    context.log.info(
        f"spam classifier: precision {metrics.precision:.3f}, recall {metrics.recall:.3f} "
        f"on {metrics.n_test} held-out reviews"
    )
    return dg.MaterializeResult(
        metadata={
            "trained": True,
            "precision": metrics.precision,
            "recall": metrics.recall,
            "n_train": metrics.n_train,
            "n_test": metrics.n_test,
            "spam_rate": metrics.spam_rate,
            "path": str(path),
            "mlflow_run_id": run_id,
        }
    )


def _log_to_mlflow(resource: MLflowResource, model: SpamClassifier, metrics: dict) -> str:
    import mlflow

    resource.setup()
    with mlflow.start_run(run_name=MLFLOW_RUN_NAME) as run:
        mlflow.set_tag("model_type", "review_spam")
        mlflow.log_params({"features": "tfidf words 1-2 + chars 3-5", "model": "logreg"})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        with tempfile.TemporaryDirectory() as tmp:
            artifact = model.save(Path(tmp) / "classifier.joblib")
            mlflow.log_artifact(str(artifact), artifact_path="spam_classifier")
        return run.info.run_id


ASSETS = [spam_classifier]
