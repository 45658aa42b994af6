"""The recommender model kinds for training: the names from ``shopflow.model_kinds`` (the one
list of kinds and strategies, re-exported here), the class of each kind (``model_class``),
the kinds tuned on validation, and ``BASELINES``, the reference configurations scored beside
every evaluation. Imports nothing heavy."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from shopflow.model_kinds import (
    BATCH_STRATEGIES,
    MODEL_KINDS,
    STRATEGIES,
    ModelKind,
    Strategy,
)

if TYPE_CHECKING:
    from models.base import Recommender

#: Kinds whose hyperparameters are tuned (Optuna) on the validation split.
TUNED_KINDS: Final[tuple[str, ...]] = ("popularity", "als", "bpr", "item_item", "ease")

#: The kinds the hybrid blends (in the order its blend weights are searched).
HYBRID_COMPONENTS: Final[tuple[str, ...]] = (
    "als",
    "bpr",
    "item_item",
    "ease",
    "content",
    "popularity",
)

#: Baseline name -> (model kind, params). ``popularity``: train counts, no decay;
#: ``als_defaults`` is implicit's
#: ``AlternatingLeastSquares()`` with its library defaults (confidence = weight).
BASELINES: Final[dict[str, tuple[str, dict[str, Any]]]] = {
    "popularity": ("popularity", {"half_life_days": None, "count": True}),
    "als_defaults": (
        "als",
        {"factors": 100, "regularization": 0.01, "alpha": 1.0, "iterations": 15},
    ),
}

_CLASSES: Final[dict[str, str]] = {  # one per MODEL_KINDS entry (tested)
    "popularity": "models.popularity:Popularity",
    "als": "models.factorization:ALS",
    "bpr": "models.factorization:BPR",
    "item_item": "models.item_item:ItemItem",
    "content": "models.content:Content",
    "ease": "models.ease:EASE",
    "hybrid": "models.hybrid:Hybrid",
}


def model_class(kind: str) -> type[Recommender]:
    """The class of a model kind (imported on first use)."""
    try:
        module, name = _CLASSES[kind].split(":")
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; known: {list(MODEL_KINDS)}") from None
    cls: type[Recommender] = getattr(importlib.import_module(module), name)
    return cls


__all__ = [
    "BASELINES",
    "BATCH_STRATEGIES",
    "HYBRID_COMPONENTS",
    "MODEL_KINDS",
    "STRATEGIES",
    "TUNED_KINDS",
    "ModelKind",
    "Strategy",
    "model_class",
]
