"""The review spam text classifier: fit, score, evaluate, save and load."""

from __future__ import annotations

import random

import numpy as np
import pytest

from models.spam import (
    ReviewSample,
    SpamClassifier,
    choose_threshold,
    compare,
    train_and_evaluate,
)

GENUINE = [
    "The {noun} fits well and the {feature} feels solid after a month of use.",
    "Decent {noun}, the {feature} could be better but fine for the price.",
    "My second {noun} from this brand; the {feature} is exactly as described.",
    "Returned it: the {feature} broke within a week, disappointing {noun}.",
    "Comfortable {noun}, good {feature}, arrived on time and well packed.",
]
SPAM = [
    "BEST DEAL EVER visit cheap-{noun}.example for free {feature} gift cards",
    "Earn money from home!!! click www.win-{noun}.xyz now limited offer",
    "I love this store, buy followers and {feature} at promo-{noun}.top",
    "AMAZING!!! 90% OFF {noun} replicas, message me on telegram",
]
NOUNS = ["shoe", "jacket", "lamp", "kettle", "backpack", "phone case"]
FEATURES = ["stitching", "zip", "battery", "handle", "strap", "finish"]


def corpus(n_genuine: int, n_spam: int, seed: int = 1) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)

    def fill(template: str) -> str:
        return template.format(noun=rng.choice(NOUNS), feature=rng.choice(FEATURES))

    texts = [fill(rng.choice(GENUINE)) for _ in range(n_genuine)]
    texts += [fill(rng.choice(SPAM)) for _ in range(n_spam)]
    return texts, [0] * n_genuine + [1] * n_spam


def test_separates_spam_from_genuine_on_held_out_data() -> None:
    texts, labels = corpus(300, 60)
    model, metrics = train_and_evaluate(texts, labels, test_size=0.3, seed=3)
    assert metrics.precision >= 0.9 and metrics.recall >= 0.9
    assert metrics.n_test == 108 and metrics.spam_rate == pytest.approx(60 / 360)
    scores = model.score(["Great kettle, the handle is sturdy", "visit cheap-lamp.example now"])
    assert scores[0] < 0.5 < scores[1]


def test_save_and_load_round_trip(tmp_path) -> None:
    texts, labels = corpus(60, 20)
    model = SpamClassifier().fit(texts, labels)
    path = model.save(tmp_path / "spam" / "classifier.joblib")
    loaded = SpamClassifier.load(path)
    assert list(loaded.score(texts[:5])) == pytest.approx(list(model.score(texts[:5])))
    (tmp_path / "junk.joblib").write_bytes(b"")
    with pytest.raises(Exception):  # noqa: B017 - joblib raises different errors per version
        SpamClassifier.load(tmp_path / "junk.joblib")


def test_refuses_single_class_training() -> None:
    with pytest.raises(ValueError, match="both spam and non-spam"):
        SpamClassifier().fit(["a", "b"], [0, 0])


def test_threshold_meets_the_precision_target_with_the_most_recall() -> None:
    y = np.array([0, 0, 0, 0, 1, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    assert choose_threshold(y, scores, 0.8) == (pytest.approx(0.5), True)  # 5 of 6 flagged right
    assert choose_threshold(y, scores, 1.0) == (pytest.approx(0.7), True)
    low = np.array([0, 1, 0, 1])
    threshold, met = choose_threshold(low, np.array([0.9, 0.8, 0.7, 0.6]), 0.99)
    assert met is False and 0.6 <= threshold <= 0.9


def test_samples_carry_rating_gap_and_author_history() -> None:
    texts, labels = corpus(120, 40, seed=4)
    samples = [
        ReviewSample(t, 5.0 if s else 4.0, 3.0, 6 if s else 0)
        for t, s in zip(texts, labels, strict=True)
    ]
    model = SpamClassifier().fit(samples, labels)
    score = model.score([ReviewSample("Nice lamp, good handle", 1.0, 4.5, 0)])
    assert 0.0 <= score[0] <= 1.0
    assert model.unfitted().kind == "candidate"


def test_gate_keeps_the_champion_when_the_candidate_is_no_better() -> None:
    texts, labels = corpus(150, 50, seed=6)
    first = compare(texts, labels, 0.9)
    assert first.promote in ("candidate", "baseline") and first.model is not None
    again = compare(texts, labels, 0.9, champion=first.model)
    assert again.champion is not None
    # with a champion in place the baseline never takes over; the candidate only on a win
    assert again.promote in (None, "candidate")
    assert (again.model is None) == (again.promote is None)
    assert again.baseline.n_test == again.candidate.n_test == 50
