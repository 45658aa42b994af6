"""Test helpers for code that depends on which experiments run."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopflow.config import get_settings

NO_EXPERIMENTS = "experiments: []\n"


def use_experiments(
    monkeypatch: pytest.MonkeyPatch, folder: Path, text: str = NO_EXPERIMENTS
) -> Path:
    """Write ``text`` as the experiments file in ``folder`` and point
    ``SHOPFLOW_EXPERIMENTS_FILE`` at it. With the default (none), ``/recommendations`` serves
    the requested strategy whatever the shipped ``experiments.yaml`` runs."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "experiments.yaml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("SHOPFLOW_EXPERIMENTS_FILE", str(path))
    get_settings.cache_clear()
    return path
