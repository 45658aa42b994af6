"""A/B experiments: the config model (``experiments.yaml``), GrowthBook-compatible
assignment, and the stats engine (pure functions)."""

from shopflow.experiments.assignment import Assignment, assign, assign_many
from shopflow.experiments.config import (
    Experiment,
    ExperimentsConfig,
    ExperimentsFileError,
    Variant,
    load_experiments,
)

__all__ = [
    "Assignment",
    "Experiment",
    "ExperimentsConfig",
    "ExperimentsFileError",
    "Variant",
    "assign",
    "assign_many",
    "load_experiments",
]
