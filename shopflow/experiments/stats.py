"""The experiment stats engine: pure functions over counts and per-user arrays.

Frequentist comparisons against control use statsmodels (two-proportion z-test, Wald interval
of the difference) and scipy (Welch's t-test and its interval); the Bayesian chance to beat
control samples Beta-Binomial posteriors with scipy; the sample-ratio-mismatch check is
scipy's chi-squared goodness of fit; CUPED removes the part of a metric explained by the
user's pre-experiment value of it.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

ALPHA = 0.05
SRM_THRESHOLD = 0.001
CORRECTION = "holm"  # family-wise error over an experiment's comparisons against control
CORRECTIONS = ("holm", "bonferroni")


@dataclass(frozen=True)
class Comparison:
    """Treatment against control on one metric: difference (treatment - control) and test."""

    control: float
    treatment: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float = ALPHA

    @property
    def relative_lift(self) -> float:
        return self.diff / self.control if self.control else math.nan

    @property
    def significant(self) -> bool:
        return bool(self.p_value < self.alpha)

    @property
    def ci_width(self) -> float:
        return self.ci_high - self.ci_low


@dataclass(frozen=True)
class SRMResult:
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    p_value: float
    threshold: float = SRM_THRESHOLD

    @property
    def mismatch(self) -> bool:
        return bool(self.p_value < self.threshold)


def compare_proportions(
    control_successes: int,
    control_total: int,
    treatment_successes: int,
    treatment_total: int,
    alpha: float = ALPHA,
) -> Comparison:
    """Two-proportion z-test (pooled) and the Wald interval of the rate difference."""
    if control_total <= 0 or treatment_total <= 0:
        raise ValueError("both groups need at least one trial")
    p_c = control_successes / control_total
    p_t = treatment_successes / treatment_total
    pooled = (control_successes + treatment_successes) / (control_total + treatment_total)
    if pooled in (0.0, 1.0):  # no variance: no evidence of a difference
        return Comparison(p_c, p_t, p_t - p_c, p_t - p_c, p_t - p_c, 1.0, alpha)
    _, p_value = proportions_ztest(
        [treatment_successes, control_successes], [treatment_total, control_total]
    )
    low, high = confint_proportions_2indep(
        treatment_successes,
        treatment_total,
        control_successes,
        control_total,
        method="wald",
        compare="diff",
        alpha=alpha,
    )
    return Comparison(p_c, p_t, p_t - p_c, float(low), float(high), float(p_value), alpha)


def compare_means(
    control: Sequence[float] | np.ndarray,
    treatment: Sequence[float] | np.ndarray,
    alpha: float = ALPHA,
) -> Comparison:
    """Welch's t-test and its interval for mean(treatment) - mean(control)."""
    c = np.asarray(control, dtype=float)
    t = np.asarray(treatment, dtype=float)
    if c.size < 2 or t.size < 2:
        raise ValueError("both groups need at least two users")
    m_c, m_t = float(c.mean()), float(t.mean())
    if c.var() == 0 and t.var() == 0:
        return Comparison(m_c, m_t, m_t - m_c, m_t - m_c, m_t - m_c, 1.0 if m_c == m_t else 0.0)
    result = sps.ttest_ind(t, c, equal_var=False)
    ci = result.confidence_interval(confidence_level=1 - alpha)
    return Comparison(m_c, m_t, m_t - m_c, float(ci.low), float(ci.high), float(result.pvalue))


def adjust_p_values(
    p_values: Sequence[float], alpha: float = ALPHA, method: str = CORRECTION
) -> list[float]:
    """P-values adjusted for testing several variants against one control (statsmodels'
    ``multipletests``, Holm or Bonferroni): compare them with ``alpha`` as usual."""
    if method not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)} (got {method!r})")
    if len(p_values) == 0:
        return []
    gc.freeze()  # statsmodels' Holm calls gc.collect(): ~0.2 s over a big heap, ~0 frozen
    try:
        _, adjusted, _, _ = multipletests(list(p_values), alpha=alpha, method=method)
    finally:
        gc.unfreeze()
    return [float(p) for p in adjusted]


def chance_to_beat_control(
    control_successes: int,
    control_total: int,
    treatment_successes: int,
    treatment_total: int,
    draws: int = 200_000,
    seed: int = 0,
    prior: tuple[float, float] = (1.0, 1.0),
) -> float:
    """P(rate_treatment > rate_control) under Beta(prior + successes, prior + failures)
    posteriors, by Monte Carlo with a fixed seed (so a report is reproducible)."""
    rng = np.random.default_rng(seed)
    a, b = prior
    post_c = sps.beta(a + control_successes, b + control_total - control_successes)
    post_t = sps.beta(a + treatment_successes, b + treatment_total - treatment_successes)
    return float(np.mean(post_t.rvs(draws, random_state=rng) > post_c.rvs(draws, random_state=rng)))


def srm_check(
    observed: Sequence[int], weights: Sequence[float], threshold: float = SRM_THRESHOLD
) -> SRMResult:
    """Chi-squared goodness of fit of users per variant against the configured weights."""
    obs = np.asarray(observed, dtype=float)
    w = np.asarray(weights, dtype=float)
    if obs.shape != w.shape or obs.size < 2:
        raise ValueError("need one observed count per weight, at least two")
    total = obs.sum()
    expected = w / w.sum() * total
    if total == 0:
        return SRMResult(tuple(int(o) for o in obs), tuple(expected), 0.0, 1.0, threshold)
    test = sps.chisquare(obs, expected)
    return SRMResult(
        tuple(int(o) for o in obs), tuple(float(e) for e in expected), float(test.statistic),
        float(test.pvalue), threshold,
    )  # fmt: skip


def cuped_theta(metric: np.ndarray, covariate: np.ndarray) -> float:
    """theta = cov(metric, covariate) / var(covariate), pooled over all groups."""
    var = float(np.var(covariate, ddof=1))
    if var == 0:
        return 0.0
    return float(np.cov(metric, covariate, ddof=1)[0, 1] / var)


def cuped_adjust(
    metric: np.ndarray, covariate: np.ndarray, theta: float, covariate_mean: float
) -> np.ndarray:
    """metric - theta * (covariate - mean): same expected value, less variance."""
    return np.asarray(metric, dtype=float) - theta * (np.asarray(covariate) - covariate_mean)


def compare_means_cuped(
    control: np.ndarray,
    control_pre: np.ndarray,
    treatment: np.ndarray,
    treatment_pre: np.ndarray,
    alpha: float = ALPHA,
) -> Comparison:
    """Welch's test on CUPED-adjusted values (theta and the mean pooled over both groups)."""
    metric = np.concatenate([control, treatment]).astype(float)
    pre = np.concatenate([control_pre, treatment_pre]).astype(float)
    theta = cuped_theta(metric, pre)
    mean = float(pre.mean())
    return compare_means(
        cuped_adjust(control, control_pre, theta, mean),
        cuped_adjust(treatment, treatment_pre, theta, mean),
        alpha,
    )
