"""Assignment agrees with the GrowthBook SDK and is stable across processes."""

from __future__ import annotations

import subprocess
import sys

import pytest
from growthbook import Experiment as GBExperiment
from growthbook import GrowthBook

from shopflow.experiments import Experiment, assign
from shopflow.experiments.assignment import (
    bucket,
    bucket_ranges,
    buckets,
    choose_variants,
    fnv1a32,
)

CASES = [
    ("recs-strategy-v1", "seed-a", [0.5, 0.5], 1.0),
    ("three-way", "", [0.2, 0.3, 0.5], 0.7),
    ("uneven", "s3", [0.1, 0.9], 0.35),
]


def _experiment(key: str, seed: str, weights: list[float], coverage: float) -> Experiment:
    variants = [
        {"key": f"v{i}", "weight": w, "strategy": "als" if i else "popularity"}
        for i, w in enumerate(weights)
    ]
    return Experiment.model_validate(
        {"key": key, "seed": seed, "status": "running", "coverage": coverage, "variants": variants}
    )


@pytest.mark.parametrize(("key", "seed", "weights", "coverage"), CASES)
def test_matches_growthbook_sdk_on_10000_users(key, seed, weights, coverage):
    ours = _experiment(key, seed, weights, coverage)
    theirs = GBExperiment(
        key=key,
        variations=list(range(len(weights))),
        weights=weights,
        coverage=coverage,
        seed=seed or None,
        hashVersion=2,
    )
    in_experiment = 0
    for i in range(10_000):
        user_id = f"user-{i}" if i % 7 else f"usér-{i}-😀"  # non-ASCII ids hash alike too
        result = GrowthBook(attributes={"id": user_id}).run(theirs)
        mine = assign(ours, user_id)
        if result.inExperiment:
            in_experiment += 1
            assert mine is not None, user_id
            assert (mine.variant_index, mine.bucket) == (result.variationId, result.bucket)
        else:
            assert mine is None, user_id
    assert in_experiment > 0


def test_fnv1a32_known_values():
    assert fnv1a32("") == 0x811C9DC5
    assert fnv1a32("a") == 0xE40C292C  # the published FNV-1a 32 test vector


def test_user_keeps_variant_across_processes():
    ours = _experiment("sticky", "s", [0.5, 0.5], 1.0)
    here = [assign(ours, f"u{i}").variant for i in range(50)]
    code = (
        "from shopflow.experiments.assignment import bucket;"
        "print(','.join(str(bucket('s', f'u{i}')) for i in range(50)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ",".join(str(bucket("s", f"u{i}")) for i in range(50))
    assert here == [assign(ours, f"u{i}").variant for i in range(50)]


def test_not_running_or_outside_coverage_gets_no_variant():
    draft = _experiment("d", "", [0.5, 0.5], 1.0).model_copy(update={"status": "draft"})
    assert assign(draft, "u1") is None
    assert assign(draft, "u1", only_running=False) is not None
    nobody = _experiment("none", "", [0.5, 0.5], 0.0)
    assert all(assign(nobody, f"u{i}") is None for i in range(200))
    assert assign(_experiment("e", "", [0.5, 0.5], 1.0), "") is None


@pytest.mark.parametrize(("key", "seed", "weights", "coverage"), CASES)
def test_vectorised_assignment_matches_one_by_one(key, seed, weights, coverage):
    ours = _experiment(key, seed, weights, coverage)
    ids = [f"u{i:06d}" for i in range(3000)] + ["", "x", "a-much-longer-user-id-" * 3, "usér-😀"]
    positions = buckets(ours.hash_seed, ids)
    assert positions.tolist() == [bucket(ours.hash_seed, u) for u in ids]
    variants = choose_variants(positions, bucket_ranges(ours.weights, ours.coverage))
    for user_id, index in zip(ids[:-4] + ids[-3:], [*variants[:-4], *variants[-3:]], strict=True):
        one = assign(ours, user_id)  # (assign refuses the empty id)
        assert index == (one.variant_index if one else -1), user_id
    assert buckets("s", []).size == 0
