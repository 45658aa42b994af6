"""Review spam classifier: pure scikit-learn. No Dagster, no HTTP: the training asset, the
review service and the benchmarks use it.

Features that carry to real deceptive text, not only to the generator's link spam: word
1-2-grams and character 2-5-grams (TF-IDF), length and punctuation statistics, the review's
rating against the product's mean, and the author's history. A logistic regression with
sigmoid calibration gives ``spam_score`` as a probability; the threshold is chosen on
cross-validated (out-of-fold) scores for the shop's minimum precision. The ``baseline`` kind
is the plain TF-IDF (word 1-2-grams) + logistic regression every candidate must beat.

scikit-learn and joblib are imported when a model is built, trained or loaded, not with this
module: the API imports it at start-up and loads a model only on the first submission."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

FORMAT_VERSION = 2
CANDIDATE, BASELINE = "candidate", "baseline"
DENSE_WEIGHT = 0.03
LINK = re.compile(
    r"https?://|www\.|\b[a-z0-9-]+\.(?:com|net|org|info|biz|ru|xyz|top|io|shop)\b", re.I
)
WORD = re.compile(r"\w+")


def review_text(title: str | None, body: str | None) -> str:
    """The text the classifier sees for one review."""
    return f"{title or ''}\n{body or ''}".strip()


@dataclass(frozen=True)
class ReviewSample:
    """What the classifier sees of one review: its text, its stars (1-5, None if unknown),
    the mean stars of the product's other approved reviews (None: no others), and how many
    reviews its author wrote before."""

    text: str
    rating: float | None = None
    product_mean: float | None = None
    author_reviews: int = 0


Samples = Sequence[ReviewSample | str]


def samples_of(items: Samples) -> list[ReviewSample]:
    return [s if isinstance(s, ReviewSample) else ReviewSample(s) for s in items]


@dataclass(frozen=True)
class Metrics:
    precision: float
    recall: float
    n_train: int
    n_test: int
    spam_rate: float
    threshold: float
    f1: float = 0.0
    average_precision: float = 0.0
    """Threshold-free ranking quality; breaks F1 ties in the gate."""

    @property
    def rank(self) -> tuple[float, float]:
        return (round(self.f1, 6), round(self.average_precision, 6))


class SpamClassifier:
    """``fit`` on samples (or plain texts) and 0/1 labels (1 = spam); ``score`` gives
    P(spam); ``flags`` applies the threshold chosen in training."""

    def __init__(
        self,
        kind: str = CANDIDATE,
        pipeline: Pipeline | None = None,
        threshold: float = 0.5,
        version: str | None = None,
    ) -> None:
        self.kind = kind
        self.pipeline = pipeline or build_pipeline(kind)
        self.threshold = threshold
        self.version = version

    def fit(self, samples: Samples, labels: Sequence[int] | np.ndarray) -> SpamClassifier:
        y = np.asarray(labels, dtype=int)
        if len(samples) != len(y):
            raise ValueError("samples and labels differ in length")
        if len(set(y.tolist())) < 2:
            raise ValueError("training needs both spam and non-spam examples")
        self.pipeline.fit(samples_of(samples), y)
        return self

    def score(self, samples: Samples) -> np.ndarray:
        if not samples:
            return np.zeros(0)
        proba: np.ndarray = self.pipeline.predict_proba(samples_of(samples))[:, 1]
        return proba

    def predict(self, samples: Samples, threshold: float | None = None) -> np.ndarray:
        cut = self.threshold if threshold is None else threshold
        return (self.score(samples) >= cut).astype(int)

    def unfitted(self) -> SpamClassifier:
        """The same configuration, untrained (to re-score it on another split)."""
        from sklearn.base import clone

        return SpamClassifier(self.kind, clone(self.pipeline), self.threshold)

    def save(self, path: Path) -> Path:
        """Write atomically (temp file + rename) so a reader never loads half a model."""
        import joblib

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        state = {"format": FORMAT_VERSION, "kind": self.kind, "pipeline": self.pipeline,
                 "threshold": self.threshold, "version": self.version}  # fmt: skip
        joblib.dump(state, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> SpamClassifier:
        import joblib

        data = joblib.load(path)
        if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path} is not a spam classifier of format {FORMAT_VERSION}")
        return cls(data["kind"], data["pipeline"], data["threshold"], data["version"])


# ---- features ---------------------------------------------------------------------------------
def _texts(samples: list[ReviewSample]) -> list[str]:
    return [s.text for s in samples]


def _text_stats(samples: list[ReviewSample]) -> np.ndarray:
    """Length and punctuation statistics, language-neutral."""
    rows = []
    for s in samples:
        text = s.text
        n = max(len(text), 1)
        words = WORD.findall(text)
        letters = [c for c in text if c.isalpha()]
        caps_words = sum(1 for w in words if len(w) >= 3 and w.isupper())
        rows.append([
            math.log1p(len(text)),
            math.log1p(len(words)),
            sum(map(len, words)) / max(len(words), 1),
            len(set(w.lower() for w in words)) / max(len(words), 1),
            sum(not c.isalnum() and not c.isspace() for c in text) / n,
            text.count("!") / n * 100,
            text.count("?") / n * 100,
            sum(c.isupper() for c in letters) / max(len(letters), 1),
            sum(c.isdigit() for c in text) / n,
            caps_words / max(len(words), 1),
            len(LINK.findall(text)),
            text.count("\n") / n * 100,
        ])  # fmt: skip
    return np.asarray(rows, dtype=float)


def _context(samples: list[ReviewSample]) -> np.ndarray:
    """The rating against the product's mean, how extreme it is, and the author's history."""
    rows = []
    for s in samples:
        has_mean = s.rating is not None and s.product_mean is not None
        gap = (s.rating - s.product_mean) if has_mean else 0.0  # type: ignore[operator]
        extreme = abs(s.rating - 3) / 2 if s.rating is not None else 0.0
        rows.append([gap, abs(gap), float(has_mean), extreme, math.log1p(s.author_reviews)])
    return np.asarray(rows, dtype=float)


def build_pipeline(kind: str = CANDIDATE) -> Pipeline:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    def pick(fn: Any) -> FunctionTransformer:
        return FunctionTransformer(fn, validate=False)

    if kind == BASELINE:
        return Pipeline([
            ("text", pick(_texts)),
            ("tfidf", TfidfVectorizer(ngram_range=(1, 2))),
            ("model", LogisticRegression(max_iter=1000)),
        ])  # fmt: skip
    if kind != CANDIDATE:
        raise ValueError(f"unknown spam classifier kind {kind!r}")
    features = FeatureUnion(
        [
            ("words", Pipeline([("text", pick(_texts)), ("tfidf", TfidfVectorizer(
                ngram_range=(1, 2), sublinear_tf=True))])),
            ("chars", Pipeline([("text", pick(_texts)), ("tfidf", TfidfVectorizer(
                analyzer="char_wb", ngram_range=(3, 5), min_df=2, sublinear_tf=True))])),
            ("stats", Pipeline([("stats", pick(_text_stats)), ("scale", StandardScaler())])),
            ("context", Pipeline([("context", pick(_context)), ("scale", StandardScaler())])),
        ],
        # the dense statistics are unit-variance: weighted down so that they add to the
        # n-grams (each a small TF-IDF weight) instead of drowning them
        transformer_weights={"stats": DENSE_WEIGHT, "context": DENSE_WEIGHT},
    )  # fmt: skip
    model = LogisticRegression(C=10.0, class_weight="balanced", solver="liblinear")
    return Pipeline([
        ("features", features),
        ("model", CalibratedClassifierCV(model, method="sigmoid", cv=3)),
    ])  # fmt: skip


# ---- training and evaluation ------------------------------------------------------------------
def choose_threshold(
    labels: np.ndarray, scores: np.ndarray, min_precision: float
) -> tuple[float, bool]:
    """The threshold with the highest recall whose precision is >= ``min_precision``; when
    none reaches it, the one with the best F1. Returns (threshold, precision target met)."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(labels, scores)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    ok = np.flatnonzero(precision >= min_precision)
    if len(ok):
        best = ok[np.lexsort((-thresholds[ok], recall[ok]))[-1]]  # most recall, then lowest cut
        return float(thresholds[best]), True
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1))]), False


def out_of_fold_scores(
    model: SpamClassifier, samples: list[ReviewSample], y: np.ndarray, seed: int, folds: int = 5
) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold

    folds = max(2, min(folds, int(np.bincount(y).min())))
    scores = np.zeros(len(y))
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(samples, y):
        fitted = model.unfitted().fit([samples[i] for i in train], y[train])
        scores[test] = fitted.score([samples[i] for i in test])
    return scores


def measure(y: np.ndarray, scores: np.ndarray, n_train: int, threshold: float) -> Metrics:
    from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

    predicted = (scores >= threshold).astype(int)

    return Metrics(
        precision=float(precision_score(y, predicted, zero_division=0)),
        recall=float(recall_score(y, predicted, zero_division=0)),
        n_train=n_train,
        n_test=len(y),
        spam_rate=float(y.mean()) if len(y) else 0.0,
        threshold=threshold,
        f1=float(f1_score(y, predicted, zero_division=0)),
        average_precision=float(average_precision_score(y, scores)) if y.any() else 0.0,
    )


def fit_with_threshold(
    kind: str, samples: list[ReviewSample], y: np.ndarray, min_precision: float | None, seed: int
) -> tuple[SpamClassifier, bool]:
    """Fit ``kind`` on all of ``samples``; the threshold comes from out-of-fold scores for
    ``min_precision`` (0.5 when None). Returns (model, precision target met)."""
    model = SpamClassifier(kind)
    met = True
    if min_precision is not None:
        oof = out_of_fold_scores(model, samples, y, seed)
        model.threshold, met = choose_threshold(y, oof, min_precision)
    return model.fit(samples, y), met


def train_and_evaluate(
    samples: Samples,
    labels: Sequence[int],
    test_size: float = 0.25,
    seed: int = 7,
    min_precision: float | None = None,
    kind: str = CANDIDATE,
) -> tuple[SpamClassifier, Metrics]:
    """Fit on a stratified split (threshold for ``min_precision`` from its out-of-fold
    scores), report the held-out figures, then refit on everything (the model to ship,
    with the threshold the split chose)."""
    from sklearn.model_selection import train_test_split

    items, y = samples_of(samples), np.asarray(labels, dtype=int)
    x_train, x_test, y_train, y_test = train_test_split(
        items, y, test_size=test_size, random_state=seed, stratify=y
    )
    held_out, _ = fit_with_threshold(kind, x_train, y_train, min_precision, seed)
    metrics = measure(y_test, held_out.score(x_test), len(x_train), held_out.threshold)
    final = SpamClassifier(kind, threshold=held_out.threshold).fit(items, y)
    return final, metrics


@dataclass
class Comparison:
    """A candidate against the baseline and the champion on one held-out split."""

    candidate: Metrics
    baseline: Metrics
    champion: Metrics | None
    precision_target_met: bool
    promote: str | None  # CANDIDATE, BASELINE (no champion yet, candidate lost) or None
    reason: str
    model: SpamClassifier | None  # refit on all labels; None when nothing is promoted


def compare(
    samples: Samples,
    labels: Sequence[int],
    min_precision: float,
    champion: SpamClassifier | None = None,
    test_size: float = 0.25,
    seed: int = 7,
) -> Comparison:
    """Train a candidate and the baseline on the same split (each with its threshold from
    out-of-fold scores of the training part), re-train the champion's configuration on it,
    and decide: the candidate is promoted when its held-out F1 (then average precision, on a
    tie) beats the baseline's and is at least the champion's (the champion's configuration
    trained on the same part, so both are judged alike); with no champion, a losing candidate
    leaves the baseline in charge."""
    from sklearn.model_selection import train_test_split

    items, y = samples_of(samples), np.asarray(labels, dtype=int)
    x_train, x_test, y_train, y_test = train_test_split(
        items, y, test_size=test_size, random_state=seed, stratify=y
    )

    def held_out(model: SpamClassifier) -> Metrics:
        return measure(y_test, model.score(x_test), len(x_train), model.threshold)

    cand, met = fit_with_threshold(CANDIDATE, x_train, y_train, min_precision, seed)
    base, _ = fit_with_threshold(BASELINE, x_train, y_train, min_precision, seed)
    figures = {CANDIDATE: held_out(cand), BASELINE: held_out(base)}
    champ = None
    if champion is not None:
        again = champion.unfitted()
        oof = out_of_fold_scores(again, x_train, y_train, seed)
        again.threshold, _ = choose_threshold(y_train, oof, min_precision)
        champ = held_out(again.fit(x_train, y_train))
    c, b = figures[CANDIDATE], figures[BASELINE]
    if not c.rank > b.rank:
        reason = f"candidate {_figure(c)} does not beat the baseline's {_figure(b)}"
        promote = BASELINE if champion is None else None
    elif champ is not None and not c.rank >= champ.rank:
        reason = f"candidate {_figure(c)} is below the champion's {_figure(champ)}"
        promote = None
    else:
        versus = f", champion {_figure(champ)}" if champ else ""
        reason = f"candidate {_figure(c)} beats baseline {_figure(b)}{versus}"
        promote = CANDIDATE
    model = None
    if promote is not None:
        winner = cand if promote == CANDIDATE else base
        model = SpamClassifier(promote, threshold=winner.threshold).fit(items, y)
    return Comparison(c, b, champ, met, promote, reason, model)


def _figure(m: Metrics) -> str:
    return f"F1 {m.f1:.4f} (AP {m.average_precision:.4f})"
