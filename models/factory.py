"""Model kinds by name (see ``models.kinds``): build from params, load from a saved folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.base import Recommender
from models.kinds import model_class


def build(model_type: str, params: dict[str, Any] | None = None) -> Recommender:
    return model_class(model_type)(**(params or {}))


def load_model(path: str | Path) -> Recommender:
    """Load any saved model; its type is read from ``model.json``."""
    model_type = json.loads((Path(path) / "model.json").read_text())["type"]
    return model_class(model_type).load(path)
