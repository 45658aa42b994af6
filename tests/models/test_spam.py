"""The review spam text classifier: fit, score, evaluate, save and load."""

from __future__ import annotations

import random

import pytest

from models.spam import SpamClassifier, train_and_evaluate

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
