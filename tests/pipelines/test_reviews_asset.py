"""The spam classifier asset: trains on moderation decisions landed in the warehouse (through
the dbt model stg_review_labels), logs to MLflow, and the review service then scores new
reviews with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import duckdb
import mlflow

from commerce.reviews import spam
from pipelines import raw_load
from pipelines.assets.reviews import (
    LABELS_MODEL,
    MLFLOW_RUN_NAME,
    labelled_reviews,
    spam_classifier,
)
from pipelines.resources import MLflowResource, WarehouseResource
from shopflow import events, landing
from shopflow.config import Settings
from tests.models.test_spam import corpus
from tests.warehouse.analytics_data import dbt

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def land_reviews(settings: Settings, texts: list[str], labels: list[int]) -> None:
    evs = []
    for i, (text, spam_label) in enumerate(zip(texts, labels, strict=True)):
        review = {"review_id": f"r{i}", "item_id": f"i{i % 7}", "rating": 5, "body": text}
        at = T0 + timedelta(minutes=i)
        evs.append(events.make_event("review.submitted", review, occurred_at=at, user_id=f"u{i}"))
        decision = "review.rejected" if spam_label else "review.approved"
        reason = "spam" if spam_label else None
        evs.append(
            events.make_event(
                decision, {**review, "reason": reason}, occurred_at=at + timedelta(hours=1)
            )
        )
    # A later, non-spam rejection is not a spam label: that review drops out.
    evs.append(
        events.make_event(
            "review.rejected",
            {"review_id": "r0", "item_id": "i0", "rating": 5, "reason": "off-topic"},
            occurred_at=T0 + timedelta(days=1),
        )
    )
    landing.write_events(evs, settings)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        raw_load.load_landing(con, settings.landing_dir)
    dbt(settings, "build", "--select", LABELS_MODEL)  # the model and its tests


def test_spam_classifier_asset_trains_logs_and_serves(shopflow_home: Settings) -> None:
    texts, labels = corpus(160, 40, seed=5)
    land_reviews(shopflow_home, texts, labels)
    with duckdb.connect(str(shopflow_home.warehouse_path), read_only=True) as con:
        got_texts, got_labels = labelled_reviews(con)
    assert len(got_labels) == len(labels) - 1 and sum(got_labels) == sum(labels[1:])

    result = dg.materialize(
        [spam_classifier],
        resources={
            "warehouse": WarehouseResource(path=str(shopflow_home.warehouse_path)),
            "mlflow": MLflowResource(tracking_uri=shopflow_home.mlflow_uri),
        },
    )
    assert result.success
    assert spam_classifier.asset_deps[spam_classifier.key] == {dg.AssetKey(LABELS_MODEL)}
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["trained"].value is True
    assert meta["precision"].value >= 0.8 and meta["recall"].value >= 0.8
    # a perfect toy corpus: the candidate ties the baseline, so the baseline serves first
    assert meta["promoted"].value in ("candidate", "baseline")
    assert meta["model_version"].value == "shopflow-review-spam/1"
    assert 0 < meta["threshold"].value < 1 and meta["baseline_f1"].value > 0

    run = mlflow.get_run(meta["mlflow_run_id"].value)
    assert run.info.run_name == MLFLOW_RUN_NAME and "precision" in run.data.metrics
    verdict = spam.assess(
        "", "BEST DEAL EVER visit cheap-lamp.example", repeated_elsewhere=False, recent_by_user=1
    )
    assert verdict.classifier_score is not None and verdict.classifier_score > 0.5
    assert verdict.flagged and verdict.model_version == meta["model_version"].value
    clean = spam.assess(
        "", "Comfortable shoe, good zip", repeated_elsewhere=False, recent_by_user=1
    )
    assert clean.classifier_score < 0.5


def test_spam_classifier_asset_waits_for_enough_labels(shopflow_home: Settings) -> None:
    texts, labels = corpus(30, 3)
    land_reviews(shopflow_home, texts, labels)
    result = dg.materialize(
        [spam_classifier],
        resources={
            "warehouse": WarehouseResource(path=str(shopflow_home.warehouse_path)),
            "mlflow": MLflowResource(tracking_uri=shopflow_home.mlflow_uri),
        },
    )
    assert result.success
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["trained"].value is False
    assert meta["in_charge"].value == "the text rules alone"
    assert "3 spam, 29 genuine" in meta["reason"].value
    assert spam.load_classifier() is None
