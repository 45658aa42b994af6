"""Model types by name: build from params, load from a saved folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.base import Recommender
from models.content import Content
from models.factorization import ALS, BPR
from models.hybrid import Hybrid
from models.item_item import ItemItem
from models.popularity import Popularity

MODEL_TYPES: dict[str, type[Recommender]] = {
    cls.name: cls for cls in (Popularity, ALS, BPR, ItemItem, Content, Hybrid)
}


def build(model_type: str, params: dict[str, Any] | None = None) -> Recommender:
    try:
        cls = MODEL_TYPES[model_type]
    except KeyError:
        known = sorted(MODEL_TYPES)
        raise ValueError(f"unknown model type {model_type!r}; known: {known}") from None
    return cls(**(params or {}))


def load_model(path: str | Path) -> Recommender:
    """Load any saved model; its type is read from ``model.json``."""
    model_type = json.loads((Path(path) / "model.json").read_text())["type"]
    return MODEL_TYPES[model_type].load(path)
