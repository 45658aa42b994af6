"""The stats engine finds real effects, stays quiet on A/A, flags SRM, and CUPED helps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shopflow.experiments import Experiment, stats
from shopflow.experiments.analysis import analyze
from shopflow.experiments.simulate import simulate_users

EXP = Experiment.model_validate(
    {
        "key": "sim",
        "status": "running",
        "variants": [
            {"key": "control", "weight": 0.5, "strategy": "popularity"},
            {"key": "treatment", "weight": 0.5, "strategy": "als"},
        ],
    }
)


def _by_variant(results):
    return {r.variant: r for r in results}


def test_simulated_lift_is_significant_in_the_right_direction():
    users = simulate_users(EXP, 20_000, seed=1, effects={"treatment": 1.3})
    res = _by_variant(analyze(EXP, users))["treatment"]
    assert res.conversion_diff > 0 and res.conversion_p_value < 0.05
    assert res.conversion_ci_low > 0
    assert res.chance_to_beat_control > 0.95
    assert res.rpu_cuped_diff > 0 and res.rpu_cuped_p_value < 0.05
    assert res.verdict == "better than control"
    assert not res.srm_flag

    worse = simulate_users(EXP, 20_000, seed=2, effects={"treatment": 0.7})
    res = _by_variant(analyze(EXP, worse))["treatment"]
    assert res.conversion_diff < 0 and res.conversion_ci_high < 0
    assert res.chance_to_beat_control < 0.05
    assert res.verdict == "worse than control"


def test_aa_test_is_quiet_in_at_least_95_percent_of_200_runs():
    significant = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        n_control = rng.binomial(10_000, 0.5)
        n_treatment = 10_000 - n_control
        conv_c, conv_t = rng.binomial(n_control, 0.1), rng.binomial(n_treatment, 0.1)
        significant += stats.compare_proportions(conv_c, n_control, conv_t, n_treatment).significant
    assert significant <= 10, f"{significant} of 200 A/A runs were significant"


def test_aa_on_per_user_data_gives_no_verdict():
    users = simulate_users(EXP, 10_000, seed=3)
    res = _by_variant(analyze(EXP, users))["treatment"]
    assert res.verdict == "no significant difference"
    assert res.conversion_ci_low < 0 < res.conversion_ci_high


def test_forced_60_40_split_on_50_50_config_flags_srm():
    users = simulate_users(EXP, 10_000, seed=4)
    rng = np.random.default_rng(4)
    users["variant"] = np.where(rng.random(len(users)) < 0.6, "control", "treatment")
    results = analyze(EXP, users)
    assert all(r.srm_flag for r in results)
    assert results[1].verdict == "invalid: sample ratio mismatch"
    assert stats.srm_check([5000, 5000], [0.5, 0.5]).mismatch is False
    assert stats.srm_check([6000, 4000], [0.5, 0.5]).mismatch is True


def test_cuped_narrows_the_interval():
    users = simulate_users(EXP, 20_000, seed=5, effects={"treatment": 1.1})
    res = _by_variant(analyze(EXP, users))["treatment"]
    plain = res.rpu_ci_high - res.rpu_ci_low
    cuped = res.rpu_cuped_ci_high - res.rpu_cuped_ci_low
    assert cuped < plain * 0.9


def test_welch_interval_covers_the_difference_and_chance_is_symmetric():
    rng = np.random.default_rng(6)
    a, b = rng.normal(10, 3, 500), rng.normal(11, 1, 800)
    cmp = stats.compare_means(a, b)
    assert cmp.ci_low < cmp.diff < cmp.ci_high and cmp.significant
    assert stats.chance_to_beat_control(50, 1000, 50, 1000) == pytest.approx(0.5, abs=0.01)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="at least one trial"):
        stats.compare_proportions(0, 0, 1, 10)
    with pytest.raises(ValueError, match="one observed count per weight"):
        stats.srm_check([1, 2, 3], [0.5, 0.5])
    with pytest.raises(ValueError, match="lacks columns"):
        analyze(EXP, simulate_users(EXP, 10).drop(columns=["clicks"]))


THREE_WAY = Experiment.model_validate(
    {
        "key": "three-way",
        "status": "running",
        "variants": [
            {"key": "control", "weight": 0.25, "strategy": "champion"},
            {"key": "als", "weight": 0.25, "strategy": "als"},
            {"key": "bpr", "weight": 0.25, "strategy": "bpr"},
            {"key": "hybrid", "weight": 0.25, "strategy": "hybrid"},
        ],
    }
)


def _users(converted: dict[str, int], per_variant: int = 2000) -> pd.DataFrame:
    """``per_variant`` users per variant, the first ``converted[v]`` of them converted."""
    frames = []
    for variant, conversions in converted.items():
        hit = np.arange(per_variant) < conversions
        frames.append(
            pd.DataFrame(
                {
                    "variant": variant,
                    "impressions": 1,
                    "clicks": 0,
                    "converted": hit.astype(int),
                    "revenue_minor": hit * 5000,
                }
            )  # fmt: skip
        )
    return pd.concat(frames, ignore_index=True)


def test_several_treatments_are_judged_on_holm_adjusted_p_values():
    users = _users({"control": 200, "als": 245, "bpr": 200, "hybrid": 205})
    res = _by_variant(analyze(THREE_WAY, users))
    als = res["als"]
    assert als.conversion_p_value < 0.05  # alone it would pass...
    assert als.correction == "holm"
    assert als.conversion_p_adjusted == pytest.approx(min(1.0, 3 * als.conversion_p_value))
    assert als.conversion_p_adjusted > 0.05  # ...but not as one of three comparisons
    assert als.verdict == "no significant difference"
    assert all(r.conversion_p_adjusted >= r.conversion_p_value for r in res.values() if
               not r.is_control)  # fmt: skip
    assert res["control"].conversion_p_adjusted is None

    strong = _by_variant(analyze(THREE_WAY, _users({"control": 200, "als": 300, "bpr": 200,
                                                    "hybrid": 200})))  # fmt: skip
    assert strong["als"].verdict == "better than control"
    bonferroni = _by_variant(analyze(THREE_WAY, users, correction="bonferroni"))["als"]
    assert bonferroni.correction == "bonferroni"
    # one treatment: nothing to correct, the adjusted value is the raw one
    single = _by_variant(analyze(EXP, simulate_users(EXP, 2000, seed=8)))["treatment"]
    assert single.correction == "none"
    assert single.conversion_p_adjusted == single.conversion_p_value


def test_holm_keeps_the_family_wise_error_of_three_aa_comparisons_near_alpha():
    raw_hits = adjusted_hits = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        control = rng.binomial(3000, 0.1)
        p_values = [
            stats.compare_proportions(control, 3000, rng.binomial(3000, 0.1), 3000).p_value
            for _ in range(3)
        ]
        raw_hits += min(p_values) < 0.05
        adjusted_hits += min(stats.adjust_p_values(p_values)) < 0.05
    assert adjusted_hits <= 0.05 * 300 + 8, adjusted_hits  # 5 % plus sampling slack
    assert raw_hits > adjusted_hits  # uncorrected, some run of three tests cries wolf more
    with pytest.raises(ValueError, match="correction must be one of"):
        stats.adjust_p_values([0.01], method="fdr_bh")
