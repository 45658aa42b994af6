"""Review spam text classifier: pure scikit-learn (TF-IDF words + characters -> logistic
regression). No Dagster, no HTTP: the training asset and the review service both use it.

scikit-learn and joblib are imported when a model is built, trained or loaded, not with this
module: the API imports it at start-up and loads a model only on the first submission."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

FORMAT_VERSION = 1


def review_text(title: str | None, body: str | None) -> str:
    """The text the classifier sees for one review."""
    return f"{title or ''}\n{body or ''}".strip()


@dataclass(frozen=True)
class Metrics:
    precision: float
    recall: float
    n_train: int
    n_test: int
    spam_rate: float
    threshold: float


class SpamClassifier:
    """``fit`` on texts and 0/1 labels (1 = spam); ``score`` gives P(spam) per text."""

    def __init__(self, pipeline: Pipeline | None = None) -> None:
        self.pipeline = pipeline or _pipeline()

    def fit(self, texts: Sequence[str], labels: Sequence[int] | np.ndarray) -> SpamClassifier:
        y = np.asarray(labels, dtype=int)
        if len(texts) != len(y):
            raise ValueError("texts and labels differ in length")
        if len(set(y.tolist())) < 2:
            raise ValueError("training needs both spam and non-spam examples")
        self.pipeline.fit(list(texts), y)
        return self

    def score(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0)
        proba: np.ndarray = self.pipeline.predict_proba(list(texts))[:, 1]
        return proba

    def predict(self, texts: Sequence[str], threshold: float = 0.5) -> np.ndarray:
        return (self.score(texts) >= threshold).astype(int)

    def save(self, path: Path) -> Path:
        """Write atomically (temp file + rename) so a reader never loads half a model."""
        import joblib

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        joblib.dump({"format": FORMAT_VERSION, "pipeline": self.pipeline}, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> SpamClassifier:
        import joblib

        data = joblib.load(path)
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path} is not a spam classifier of format {FORMAT_VERSION}")
        return cls(data["pipeline"])


def _pipeline() -> Pipeline:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)),
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True
                ),
            ),
        ]
    )
    model = LogisticRegression(max_iter=1000, class_weight="balanced", C=4.0)
    return Pipeline([("features", features), ("model", model)])


def train_and_evaluate(
    texts: Sequence[str],
    labels: Sequence[int],
    test_size: float = 0.25,
    seed: int = 7,
    threshold: float = 0.5,
) -> tuple[SpamClassifier, Metrics]:
    """Fit on a stratified split, report precision/recall on the held-out part, then refit
    on everything (the returned model is the one to ship)."""
    from sklearn.metrics import precision_score, recall_score
    from sklearn.model_selection import train_test_split

    y = np.asarray(labels, dtype=int)
    x_train, x_test, y_train, y_test = train_test_split(
        list(texts), y, test_size=test_size, random_state=seed, stratify=y
    )
    held_out = SpamClassifier().fit(x_train, y_train)
    predicted = held_out.predict(x_test, threshold)
    metrics = Metrics(
        precision=float(precision_score(y_test, predicted, zero_division=0)),
        recall=float(recall_score(y_test, predicted, zero_division=0)),
        n_train=len(x_train),
        n_test=len(x_test),
        spam_rate=float(y.mean()),
        threshold=threshold,
    )
    return SpamClassifier().fit(list(texts), y), metrics
