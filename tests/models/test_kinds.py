"""One list of model kinds and strategies (``shopflow.model_kinds``) that every layer reads."""

from __future__ import annotations

import pytest

from models.base import Recommender
from models.kinds import MODEL_KINDS, STRATEGIES, model_class
from shopflow.experiments.config import Variant
from shopflow.online_store import keys


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_every_kind_has_its_class(kind: str) -> None:
    cls = model_class(kind)
    assert issubclass(cls, Recommender) and cls.name == kind


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known"):
        model_class("svd")


def test_experiment_variants_accept_exactly_the_strategies() -> None:
    assert set(STRATEGIES) == {*MODEL_KINDS, keys.CHAMPION}
    for strategy in STRATEGIES:
        assert Variant(key="v", weight=1, strategy=strategy).strategy == strategy
    with pytest.raises(ValueError):
        Variant(key="v", weight=1, strategy="svd")
