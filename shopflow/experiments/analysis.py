"""Per experiment and variant results from a per-user table, using ``stats``.

Input columns (one row per exposed user): ``variant``, ``impressions``, ``clicks``,
``converted`` (0/1), ``revenue_minor`` and, for CUPED, ``pre_revenue_minor`` (the user's
revenue before the experiment started). The first variant of the experiment is the control.
With more than one treatment, the p-values against control are adjusted for multiple
comparisons (Holm by default; ``*_p_adjusted``) and the verdict uses the adjusted value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from shopflow.experiments import stats
from shopflow.experiments.config import Experiment

USER_COLUMNS = ("variant", "impressions", "clicks", "converted", "revenue_minor")


@dataclass(frozen=True)
class VariantResult:
    experiment_key: str
    variant: str
    strategy: str
    is_control: bool
    users: int
    expected_share: float
    conversions: int
    conversion_rate: float
    impressions: int
    clicks: int
    ctr: float
    revenue_minor: int
    revenue_per_user: float
    # against control (None for the control row or when a group is too small)
    conversion_diff: float | None = None
    conversion_ci_low: float | None = None
    conversion_ci_high: float | None = None
    conversion_p_value: float | None = None
    ctr_diff: float | None = None
    ctr_p_value: float | None = None
    rpu_diff: float | None = None
    rpu_ci_low: float | None = None
    rpu_ci_high: float | None = None
    rpu_p_value: float | None = None
    rpu_cuped_diff: float | None = None
    rpu_cuped_ci_low: float | None = None
    rpu_cuped_ci_high: float | None = None
    rpu_cuped_p_value: float | None = None
    # adjusted for the experiment's several comparisons (equal to the raw ones with one)
    conversion_p_adjusted: float | None = None
    rpu_p_adjusted: float | None = None
    correction: str = "none"
    chance_to_beat_control: float | None = None
    srm_p_value: float = 1.0
    srm_flag: bool = False
    verdict: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _verdict(row: dict[str, Any], srm: stats.SRMResult, alpha: float) -> str:
    if srm.mismatch:
        return "invalid: sample ratio mismatch"
    if row["is_control"]:
        return "control"
    if row.get("conversion_p_adjusted") is None:
        return "not enough data"
    if row["conversion_p_adjusted"] >= alpha:
        return "no significant difference"
    return "better than control" if row["conversion_diff"] > 0 else "worse than control"


def _adjust(rows: list[dict[str, Any]], alpha: float, method: str) -> None:
    """Fill ``*_p_adjusted`` and ``correction`` over the treatments compared with control."""
    for metric in ("conversion", "rpu"):
        tested = [r for r in rows if r.get(f"{metric}_p_value") is not None]
        several = len(tested) > 1
        raw = [r[f"{metric}_p_value"] for r in tested]
        adjusted = stats.adjust_p_values(raw, alpha, method) if several else raw
        for row, p_value in zip(tested, adjusted, strict=True):
            row[f"{metric}_p_adjusted"] = p_value
            row["correction"] = method if several else "none"


def analyze(
    experiment: Experiment,
    users: pd.DataFrame,
    alpha: float = stats.ALPHA,
    correction: str = stats.CORRECTION,
) -> list[VariantResult]:
    """One result per configured variant (variants without users count zero); ``correction``
    (holm or bonferroni) applies when more than one treatment is compared with control."""
    if correction not in stats.CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(stats.CORRECTIONS)}")
    missing = [c for c in USER_COLUMNS if c not in users.columns]
    if missing:
        raise ValueError(f"user table lacks columns: {', '.join(missing)}")
    known = {v.key for v in experiment.variants}
    users = users[users["variant"].isin(known)]
    groups = {v.key: users[users["variant"] == v.key] for v in experiment.variants}
    srm = stats.srm_check([len(groups[v.key]) for v in experiment.variants], experiment.weights)
    has_pre = "pre_revenue_minor" in users.columns
    control = groups[experiment.control.key]

    rows = []
    for variant in experiment.variants:
        g = groups[variant.key]
        is_control = variant.key == experiment.control.key
        n, conv = len(g), int(g["converted"].sum())
        imps, clicks = int(g["impressions"].sum()), int(g["clicks"].sum())
        revenue = g["revenue_minor"].to_numpy(dtype=float)
        row: dict[str, Any] = dict(
            experiment_key=experiment.key,
            variant=variant.key,
            strategy=variant.strategy,
            is_control=is_control,
            users=n,
            expected_share=variant.weight,
            conversions=conv,
            conversion_rate=conv / n if n else 0.0,
            impressions=imps,
            clicks=clicks,
            ctr=clicks / imps if imps else 0.0,
            revenue_minor=int(revenue.sum()),
            revenue_per_user=float(revenue.mean()) if n else 0.0,
            srm_p_value=srm.p_value,
            srm_flag=srm.mismatch,
        )
        if not is_control and n >= 2 and len(control) >= 2:
            c_conv = int(control["converted"].sum())
            conv_cmp = stats.compare_proportions(c_conv, len(control), conv, n, alpha)
            row |= dict(
                conversion_diff=conv_cmp.diff,
                conversion_ci_low=conv_cmp.ci_low,
                conversion_ci_high=conv_cmp.ci_high,
                conversion_p_value=conv_cmp.p_value,
                chance_to_beat_control=stats.chance_to_beat_control(c_conv, len(control), conv, n),
            )
            c_imps = int(control["impressions"].sum())
            if imps and c_imps:
                ctr = stats.compare_proportions(
                    int(control["clicks"].sum()), c_imps, clicks, imps, alpha
                )
                row |= dict(ctr_diff=ctr.diff, ctr_p_value=ctr.p_value)
            c_rev = control["revenue_minor"].to_numpy(dtype=float)
            rpu = stats.compare_means(c_rev, revenue, alpha)
            row |= dict(
                rpu_diff=rpu.diff, rpu_ci_low=rpu.ci_low, rpu_ci_high=rpu.ci_high,
                rpu_p_value=rpu.p_value,
            )  # fmt: skip
            if has_pre:
                cuped = stats.compare_means_cuped(
                    c_rev,
                    control["pre_revenue_minor"].to_numpy(dtype=float),
                    revenue,
                    g["pre_revenue_minor"].to_numpy(dtype=float),
                    alpha,
                )
                row |= dict(
                    rpu_cuped_diff=cuped.diff, rpu_cuped_ci_low=cuped.ci_low,
                    rpu_cuped_ci_high=cuped.ci_high, rpu_cuped_p_value=cuped.p_value,
                )  # fmt: skip
        rows.append(row)
    _adjust(rows, alpha, correction)
    return [VariantResult(**row, verdict=_verdict(row, srm, alpha)) for row in rows]


def results_frame(results: list[VariantResult]) -> pd.DataFrame:
    return pd.DataFrame([r.as_dict() for r in results])
