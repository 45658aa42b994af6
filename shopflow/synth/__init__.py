"""The synthetic shop generator (see :mod:`shopflow.synth.generator`)."""

from shopflow.synth.generator import (
    EVENTS_PER_USER_DAY,
    GenerateError,
    GenerateReport,
    generate_shop,
)

__all__ = ["EVENTS_PER_USER_DAY", "GenerateError", "GenerateReport", "generate_shop"]
