"""Review spam classifier: trained on past moderation decisions, logged to MLflow, and
written where the review service loads it (``serving.spam.classifier_path``)."""

import tempfile
from pathlib import Path

import dagster as dg
import duckdb

from models.spam import SpamClassifier, review_text, train_and_evaluate
from pipelines.assets.landing import RAW_EVENTS
from pipelines.resources import MLflowResource, WarehouseResource
from serving.spam import classifier_path
from shopflow.config import get_settings

MIN_PER_CLASS = 10
MLFLOW_RUN_NAME = "review-spam-classifier"

#: The latest decision per review (approved = 0, rejected as spam = 1) joined to the
#: submitted text. Rejections for other reasons are not spam labels and are left out.
LABELLED_SQL = """
with decisions as (
    select review_id, occurred_at, 'ham' as label from raw.review_approved
    union all
    select review_id, occurred_at,
        case when lower(coalesce(reason, '')) = 'spam' then 'spam' else 'other' end as label
    from raw.review_rejected
),
latest as (
    select review_id, arg_max(label, occurred_at) as label from decisions group by review_id
),
texts as (
    select review_id, arg_max(title, occurred_at) as title, arg_max(body, occurred_at) as body
    from raw.review_submitted group by review_id
)
select t.title, t.body, (l.label = 'spam')::int as spam
from texts t join latest l using (review_id)
where l.label in ('ham', 'spam')
order by t.review_id
"""


def labelled_reviews(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[int]]:
    """(texts, labels) from the warehouse; empty when the review tables are not loaded."""
    tables = {
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()
    }
    if not {"review_submitted", "review_approved", "review_rejected"} <= tables:
        return [], []
    rows = con.execute(LABELLED_SQL).fetchall()
    return [review_text(t, b) for t, b, _ in rows], [int(s) for _, _, s in rows]


@dg.asset(
    deps=[RAW_EVENTS],
    group_name="reviews",
    kinds={"scikitlearn", "mlflow"},
    description=(
        "Text classifier of review spam, trained on past moderation decisions "
        "(raw.review_*); precision and recall on a held-out split are logged to MLflow."
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
