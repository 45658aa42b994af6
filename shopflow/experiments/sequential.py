"""Always-valid intervals and per-metric comparisons, for results you can look at every day.

Sequential intervals are the asymptotic confidence sequences of Howard, Ramdas, McAuliffe and
Sekhon (2021), as GrowthBook computes them: for ``N`` units, a per-unit variance ``sigma^2``
and a tuning ``rho`` chosen for ``N*`` units, the half-width is

    sigma * sqrt(2 (N rho^2 + 1) / (N^2 rho^2) * log(sqrt(N rho^2 + 1) / alpha))

which holds at every sample size at once, so peeking daily keeps the error rate at ``alpha``.
The fixed-horizon interval (normal approximation) is valid only at one pre-planned look.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

ALPHA = 0.05
TUNING_N = 5000
"""N*: the sample size the sequence is tightest at (GrowthBook's default tuning)."""


def rho(alpha: float = ALPHA, tuning_n: float = TUNING_N) -> float:
    log_a = -2 * math.log(alpha)
    return math.sqrt((log_a + math.log(log_a + 1)) / tuning_n)


def cs_halfwidth(
    variance: np.ndarray | float,
    n: np.ndarray | float,
    alpha: float = ALPHA,
    tuning_n: float = TUNING_N,
) -> np.ndarray:
    """Half-width of the confidence sequence for an estimate with ``variance`` from ``n``
    units in all (arrays broadcast)."""
    n = np.asarray(n, dtype=float)
    sigma2 = np.asarray(variance, dtype=float) * n
    r2 = rho(alpha, tuning_n) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        width = np.sqrt(sigma2) * np.sqrt(
            2 * (n * r2 + 1) / (n**2 * r2) * np.log(np.sqrt(n * r2 + 1) / alpha)
        )
    return np.where(n > 0, width, np.inf)


def fixed_halfwidth(variance: np.ndarray | float, alpha: float = ALPHA) -> np.ndarray:
    return np.asarray(sps.norm.ppf(1 - alpha / 2) * np.sqrt(variance), dtype=float)


@dataclass(frozen=True)
class MetricComparison:
    """Treatment against control on one metric: absolute difference, relative lift, the
    fixed-horizon interval and p-value, and the always-valid (sequential) interval."""

    control: float
    treatment: float
    diff: float
    lift: float
    ci_low: float
    ci_high: float
    p_value: float
    seq_low: float
    seq_high: float

    @property
    def seq_significant(self) -> bool:
        return self.seq_low > 0 or self.seq_high < 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean_and_variance(values: np.ndarray, den: np.ndarray | None) -> tuple[float, float]:
    """The metric (mean, or ratio of sums by the delta method) and its estimate's variance."""
    n = len(values)
    if den is None:
        return float(values.mean()), float(values.var(ddof=1)) / n
    mu_v, mu_d = float(values.mean()), float(den.mean())
    if mu_d == 0:
        return 0.0, 0.0
    cov = np.cov(values, den, ddof=1)
    var = cov[0, 0] / mu_d**2 - 2 * mu_v * cov[0, 1] / mu_d**3 + mu_v**2 * cov[1, 1] / mu_d**4
    return mu_v / mu_d, float(var) / n


def compare_metric(
    control: np.ndarray,
    treatment: np.ndarray,
    control_den: np.ndarray | None = None,
    treatment_den: np.ndarray | None = None,
    alpha: float = ALPHA,
    tuning_n: float = TUNING_N,
) -> MetricComparison:
    """Per-unit values (and denominators, for a ratio metric) of both arms compared."""
    if len(control) < 2 or len(treatment) < 2:
        raise ValueError("both groups need at least two users")
    m_c, v_c = _mean_and_variance(np.asarray(control, float), control_den)
    m_t, v_t = _mean_and_variance(np.asarray(treatment, float), treatment_den)
    diff, variance = m_t - m_c, v_c + v_t
    half = float(fixed_halfwidth(variance, alpha))
    seq = float(cs_halfwidth(variance, len(control) + len(treatment), alpha, tuning_n))
    p_value = 2 * float(sps.norm.sf(abs(diff) / math.sqrt(variance))) if variance > 0 else 1.0
    lift = diff / m_c if m_c else math.nan
    return MetricComparison(m_c, m_t, diff, lift, diff - half, diff + half, p_value,
                            diff - seq, diff + seq)  # fmt: skip
