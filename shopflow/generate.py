"""The synthetic shop generator's public API (implemented in :mod:`shopflow.synth`)."""

from shopflow.synth import EVENTS_PER_USER_DAY, GenerateError, GenerateReport, generate_shop

__all__ = ["EVENTS_PER_USER_DAY", "GenerateError", "GenerateReport", "generate_shop"]
