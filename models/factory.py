"""Model kinds by name (see ``models.kinds``): build from params, load from a saved folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.base import Recommender
from models.kinds import model_class


def build(
    model_type: str, params: dict[str, Any] | None = None, nnz: int | None = None
) -> Recommender:
    """A model of ``model_type``; given the matrix size ``nnz``, ``als`` runs on the engine
    the settings pick for it (implicit, or Spark MLlib: ``models.spark_als``)."""
    if model_type == "als" and nnz is not None:
        from models.spark_als import choose_als

        return choose_als(nnz, params)
    return model_class(model_type)(**(params or {}))


def load_model(path: str | Path) -> Recommender:
    """Load any saved model; its type is read from ``model.json``."""
    model_type = json.loads((Path(path) / "model.json").read_text())["type"]
    return model_class(model_type).load(path)
