"""The one registry of recommender model kinds and served strategies.

Imports nothing heavy, so serving, experiments, the CLI and the Dagster assets can all use it:

- ``MODEL_KINDS``: every model type the pipeline trains (one Dagster asset and one registered
  MLflow model each);
- ``BATCH_STRATEGIES``: the kinds published as per-user batch lists
  (``shopflow.online_store.keys.user_recs(version, user, strategy)``); ``popularity`` is
  published as the popular lists (``shopflow.online_store.keys.popular``) instead;
- ``STRATEGIES``: what an experiment variant may serve: every kind plus ``champion``;
- ``BASELINES``: the reference configurations scored beside every evaluation.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final, Literal

from shopflow.online_store.keys import CHAMPION

if TYPE_CHECKING:
    from models.base import Recommender

ModelKind = Literal["popularity", "als", "bpr", "item_item", "content", "ease", "hybrid"]
Strategy = Literal["popularity", "als", "bpr", "item_item", "content", "ease", "hybrid", "champion"]

MODEL_KINDS: Final[tuple[str, ...]] = (
    "popularity",
    "als",
    "bpr",
    "item_item",
    "content",
    "ease",
    "hybrid",
)
BATCH_STRATEGIES: Final[tuple[str, ...]] = tuple(k for k in MODEL_KINDS if k != "popularity")
STRATEGIES: Final[tuple[str, ...]] = (*MODEL_KINDS, CHAMPION)
#: Kinds whose hyperparameters are tuned (Optuna) on the validation split.
TUNED_KINDS: Final[tuple[str, ...]] = ("popularity", "als", "bpr", "item_item", "ease")

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

_CLASSES: Final[dict[str, str]] = {
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
