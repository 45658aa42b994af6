"""The state shared by all simulated days: catalog, users and run parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from shopflow.synth.catalog import Catalog
from shopflow.synth.population import DAY_US, Users

if TYPE_CHECKING:
    from shopflow.experiments.simulate import ShopExperiments


@dataclass
class World:
    seed: int
    tag: str  # 8 hex chars identifying the run parameters; prefixes every generated id
    start: date
    days: int
    catalog: Catalog
    users: Users
    conversion_multiplier: np.ndarray  # per user, scales the per-session purchase probability
    start_us: int
    experiments: ShopExperiments | None = None  # simulated A/B tests (exposures, lifts)

    @property
    def end_us(self) -> int:
        return self.start_us + self.days * DAY_US

    def day_start_us(self, day: int) -> int:
        return self.start_us + day * DAY_US

    def rng(self, day: int, stream: int) -> np.random.Generator:
        """Independent, reproducible random stream per (day, purpose)."""
        return np.random.default_rng([self.seed, day, stream])


def uniform_us(rng: np.random.Generator, low_s: float, high_s: float, n: int) -> np.ndarray:
    """Random durations in microseconds, uniform in [low_s, high_s) seconds."""
    return (rng.uniform(low_s, high_s, n) * 1e6).astype(np.int64)
