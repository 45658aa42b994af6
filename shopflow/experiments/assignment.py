"""Deterministic, GrowthBook-compatible assignment (hash version 2).

Matches the GrowthBook SDK: ``n = fnv1a32(str(fnv1a32(seed + user_id))) % 10000 / 10000``,
bucket ranges ``[cum, cum + coverage * weight)`` from cumulative weights, and the first range
holding ``n`` wins; none means the user is outside the experiment. No state is kept: a user
gets the same variant in every request and process.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from shopflow.experiments.config import Experiment, Status

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193


def fnv1a32(text: str) -> int:
    """FNV-1a 32-bit over UTF-16 code units (as the GrowthBook SDKs hash JS strings)."""
    hval = FNV_OFFSET
    if text.isascii():
        units: Iterable[int] = text.encode()
    else:
        data = text.encode("utf-16-le", "surrogatepass")
        units = (data[i] | (data[i + 1] << 8) for i in range(0, len(data), 2))
    for unit in units:
        hval = ((hval ^ unit) * FNV_PRIME) & 0xFFFFFFFF
    return hval


def bucket(seed: str, user_id: str) -> float:
    """The user's position in [0, 1) for an experiment seed (hash version 2)."""
    return (fnv1a32(str(fnv1a32(seed + user_id))) % 10000) / 10000


def buckets(seed: str, user_ids: Sequence[str]) -> np.ndarray:
    """``bucket(seed, user_id)`` for many users at once: FNV-1a over a byte matrix of the
    ids (ASCII ids; others fall back to the scalar hash)."""
    ids = list(user_ids)
    if not ids:
        return np.zeros(0, dtype=np.float64)
    if not (seed.isascii() and all(u.isascii() and "\x00" not in u for u in ids)):
        return np.array([bucket(seed, u) for u in ids], dtype=np.float64)
    raw = np.array(ids, dtype=bytes)
    first = _fnv_rows(raw.view(np.uint8).reshape(len(ids), -1), _lengths(ids), fnv1a32(seed))
    # the second round hashes the first hash's decimal digits
    digits = np.ones(len(ids), dtype=np.int64)
    for power in range(1, 10):
        digits += first >= 10**power
    columns = np.stack([first // 10 ** (digits - 1 - k).clip(0) % 10 + 48 for k in range(10)], 1)
    second = _fnv_rows(columns.astype(np.uint8), digits, FNV_OFFSET)
    return (second % 10000) / 10000


def _lengths(ids: list[str]) -> np.ndarray:
    return np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))


def _fnv_rows(data: np.ndarray, lengths: np.ndarray, start: int) -> np.ndarray:
    """FNV-1a 32-bit of each row's first ``lengths`` bytes, continuing from ``start``."""
    hval = np.full(len(data), start, dtype=np.uint64)
    for col in range(data.shape[1]):
        step = ((hval ^ data[:, col]) * np.uint64(FNV_PRIME)) & np.uint64(0xFFFFFFFF)
        hval = np.where(col < lengths, step, hval)
    return hval.astype(np.int64)


def bucket_ranges(weights: list[float], coverage: float = 1.0) -> list[tuple[float, float]]:
    coverage = min(max(coverage, 0.0), 1.0)
    cumulative = 0.0
    ranges = []
    for weight in weights:
        start = cumulative
        cumulative += weight
        ranges.append((start, start + coverage * weight))
    return ranges


def choose_variant(n: float, ranges: list[tuple[float, float]]) -> int:
    """Index of the range holding ``n``; -1 when none (outside the coverage)."""
    for index, (low, high) in enumerate(ranges):
        if low <= n < high:
            return index
    return -1


def choose_variants(n: np.ndarray, ranges: list[tuple[float, float]]) -> np.ndarray:
    """``choose_variant`` for an array of bucket positions."""
    out = np.full(len(n), -1, dtype=np.int64)
    for index, (low, high) in enumerate(ranges):
        out[(out < 0) & (n >= low) & (n < high)] = index
    return out


@dataclass(frozen=True)
class Assignment:
    experiment_key: str
    variant: str
    strategy: str
    variant_index: int
    bucket: float


def assign(experiment: Experiment, user_id: str, *, only_running: bool = True) -> Assignment | None:
    """The user's variant, or None if the user is outside the experiment (or it isn't running)."""
    if not user_id or (only_running and experiment.status != Status.running):
        return None
    n = bucket(experiment.hash_seed, user_id)
    index = choose_variant(n, bucket_ranges(experiment.weights, experiment.coverage))
    if index < 0:
        return None
    variant = experiment.variants[index]
    return Assignment(experiment.key, variant.key, variant.strategy, index, n)


def assign_many(
    experiments: Iterable[Experiment], user_id: str, *, only_running: bool = True
) -> Assignment | None:
    """The first experiment (in file order) that includes the user decides its variant."""
    for experiment in experiments:
        found = assign(experiment, user_id, only_running=only_running)
        if found is not None:
            return found
    return None
