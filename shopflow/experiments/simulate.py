"""Synthetic experiment data with a known effect per variant.

``simulate_users`` draws a per-user table (the ``analysis.analyze`` input) with numpy: users
are assigned by the real assignment function, each has a latent order rate (Gamma) that
drives both the pre-experiment and the in-experiment orders (so CUPED has signal), and
``effects`` scales a variant's order rate (``{"treatment": 1.2}`` = +20 %).

``ShopExperiments`` simulates the same effect on the synthetic shop's full event streams
(``generate_shop(..., experiments=[(experiment, {"als": 1.2})])``): each user's variant scales
their per-session purchase probability, and their first session exposes them with a
``rec_impression`` naming the experiment and variant. ``exposure_events`` and
``conversion_multipliers`` do the same for hand-made event lists.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from shopflow import events
from shopflow.experiments.assignment import assign, bucket_ranges, buckets, choose_variants
from shopflow.experiments.config import Experiment, load_experiments

Lifts = Mapping[str, float]  # variant key -> purchase-probability multiplier (1.0 = no effect)


def simulate_users(
    experiment: Experiment,
    n_users: int,
    seed: int = 0,
    effects: Mapping[str, float] | None = None,
    orders_per_user: float = 0.3,
    order_value_minor: int = 5_000,
    impressions_per_user: float = 8.0,
    ctr: float = 0.05,
    user_prefix: str = "u",
    pre_period_ratio: float = 2.0,
) -> pd.DataFrame:
    """Per-user experiment outcomes with known multiplicative ``effects`` per variant.

    The pre-experiment window is ``pre_period_ratio`` times as long as the experiment."""
    rng = np.random.default_rng(seed)
    effects = dict(effects or {})
    rows = []
    for i in range(n_users):
        user_id = f"{user_prefix}{seed}-{i}"
        a = assign(experiment, user_id, only_running=False)
        if a is not None:
            rows.append((user_id, a.variant))
    n = len(rows)
    variants = np.array([v for _, v in rows], dtype=object)
    lift = np.array([effects.get(v, 1.0) for v in variants], dtype=float)
    rate = rng.gamma(shape=0.25, scale=orders_per_user / 0.25, size=n)  # heterogenous users
    basket = rng.gamma(shape=4.0, scale=order_value_minor / 4.0, size=n)  # typical order value
    pre_orders = rng.poisson(rate * pre_period_ratio)
    orders = rng.poisson(rate * lift)
    value = basket * rng.gamma(shape=16.0, scale=1 / 16.0, size=(2, n))
    impressions = rng.poisson(impressions_per_user, size=n)
    return pd.DataFrame(
        {
            "user_id": [u for u, _ in rows],
            "variant": variants,
            "impressions": impressions,
            "clicks": rng.binomial(impressions, np.clip(ctr * lift, 0, 1)),
            "converted": (orders > 0).astype(int),
            "revenue_minor": np.round(orders * value[0]).astype(np.int64),
            "pre_revenue_minor": np.round(pre_orders * value[1]).astype(np.int64),
        }
    )


def conversion_multipliers(
    experiment: Experiment, user_ids: Iterable[str], effects: Mapping[str, float]
) -> dict[str, float]:
    """user_id -> purchase-probability multiplier of the user's variant (1.0 outside)."""
    out = {}
    for user_id in user_ids:
        a = assign(experiment, user_id, only_running=False)
        out[user_id] = effects.get(a.variant, 1.0) if a else 1.0
    return out


def exposure_events(
    experiment: Experiment,
    user_ids: Iterable[str],
    at: datetime,
    item_ids: list[str] | None = None,
    model_version: str = "sim",
) -> list[events.Envelope]:
    """One ``rec_impression`` exposure per assigned user, naming experiment and variant."""
    out = []
    for user_id in user_ids:
        a = assign(experiment, user_id, only_running=False)
        if a is None:
            continue
        payload = events.RecImpression(
            request_id=uuid.uuid4().hex,
            item_ids=list(item_ids or []),
            model_name=a.strategy,
            model_version=model_version,
            experiment_key=experiment.key,
            variant=a.variant,
        )
        out.append(events.make_event("rec_impression", payload, user_id=user_id, occurred_at=at))
    return out


def check_lifts(experiment: Experiment, lifts: Lifts) -> dict[str, float]:
    """``lifts`` as a dict; ValueError for an unknown variant or a negative/non-finite lift."""
    known = [v.key for v in experiment.variants]
    for variant, lift in lifts.items():
        if variant not in known:
            raise ValueError(
                f"experiment {experiment.key!r} has no variant {variant!r} "
                f"(variants: {', '.join(known)})"
            )
        if not (math.isfinite(lift) and lift >= 0):
            raise ValueError(f"lift of {experiment.key}:{variant} must be >= 0 (got {lift})")
    return {k: float(v) for k, v in lifts.items()}


def parse_lifts(
    specs: Sequence[str], experiments: Sequence[Experiment]
) -> list[tuple[Experiment, dict[str, float]]]:
    """``VARIANT=FACTOR`` or ``EXPERIMENT:VARIANT=FACTOR`` options (the CLI's ``--lift``)
    into ``(experiment, lifts)`` pairs, one per experiment. The short form needs exactly one
    experiment. ValueError with a clear message on bad input."""
    lifts: dict[str, dict[str, float]] = {e.key: {} for e in experiments}
    by_key = {e.key: e for e in experiments}
    for spec in specs:
        target, sep, factor = spec.partition("=")
        key, colon, variant = target.rpartition(":")
        if not sep or not variant:
            raise ValueError(f"--lift {spec!r}: use VARIANT=FACTOR or EXPERIMENT:VARIANT=FACTOR")
        if not colon:
            if len(experiments) != 1:
                raise ValueError(f"--lift {spec!r}: name the experiment (EXPERIMENT:VARIANT=...)")
            key = experiments[0].key
        if key not in by_key:
            raise ValueError(f"--lift {spec!r}: experiment {key!r} is not simulated")
        try:
            lifts[key][variant] = float(factor)
        except ValueError:
            raise ValueError(f"--lift {spec!r}: {factor!r} is not a number") from None
    return [(e, check_lifts(e, lifts[e.key])) for e in experiments]


def from_file(
    keys: Sequence[str], lift_specs: Sequence[str], path: Path | str | None = None
) -> list[tuple[Experiment, dict[str, float]]]:
    """The CLI's ``--experiment KEY`` and ``--lift`` options against the experiments file
    (any status: a draft can be simulated before it runs). ValueError on bad input."""
    if not keys:
        if lift_specs:
            raise ValueError("--lift needs --experiment (the experiment to simulate)")
        return []
    config = load_experiments(path)
    experiments = []
    for key in keys:
        try:
            experiments.append(config.get(key))
        except KeyError:
            known = ", ".join(e.key for e in config.experiments) or "none"
            raise ValueError(f"--experiment {key!r} is not in the experiments file "
                             f"(known: {known})") from None  # fmt: skip
    return parse_lifts(lift_specs, experiments)


class ShopExperiments:
    """Experiments simulated in the synthetic shop, with a known effect per variant.

    Users are assigned as ``/recommendations`` assigns them: in the first experiment (in the
    given order, whatever its status) that includes them. A user's variant multiplies the
    purchase probability of every session of theirs; ``expose`` picks each assigned user's
    first session as their exposure, so every session of the user is at or after it.
    """

    def __init__(self, specs: Sequence[tuple[Experiment, Lifts]], user_ids: Sequence[str]):
        self.experiments = [e for e, _ in specs]
        keys = [e.key for e in self.experiments]
        if len(set(keys)) != len(keys):
            raise ValueError(f"an experiment is simulated twice: {', '.join(keys)}")
        lifts = [check_lifts(e, lift) for e, lift in specs]
        ids = list(user_ids)
        n = len(ids)
        self.experiment_index = np.full(n, -1, dtype=np.int64)
        self.variant_index = np.full(n, -1, dtype=np.int64)
        for index, experiment in enumerate(self.experiments):
            ranges = bucket_ranges(experiment.weights, experiment.coverage)
            variant = choose_variants(buckets(experiment.hash_seed, ids), ranges)
            take = (self.experiment_index < 0) & (variant >= 0)
            self.experiment_index[take] = index
            self.variant_index[take] = variant[take]
        # one code per (experiment, variant): labels and lifts are lookups by code
        self._first_code = np.cumsum([0] + [len(e.variants) for e in self.experiments])
        arms = [(e, v) for e in self.experiments for v in e.variants]
        self._labels = {
            "experiment_key": pa.array([e.key for e, _ in arms], pa.string()),
            "variant": pa.array([v.key for _, v in arms], pa.string()),
            "model_name": pa.array([v.strategy for _, v in arms], pa.string()),
        }
        arm_lift = [
            lift.get(v.key, 1.0)
            for e, lift in zip(self.experiments, lifts, strict=True)
            for v in e.variants
        ]
        self.multiplier = np.array([*arm_lift, 1.0])[self._codes(np.arange(n))]
        pairs = zip(self.experiments, lifts, strict=True)
        self.fingerprint = repr([(e.model_dump(mode="json"), lift) for e, lift in pairs])
        self._exposed = np.zeros(n, dtype=bool)

    def _codes(self, users: np.ndarray) -> np.ndarray:
        """Arm code of each user; -1 (the last entry of per-arm arrays) outside experiments."""
        exp = self.experiment_index[users]
        first = self._first_code[np.maximum(exp, 0)]
        return np.where(exp >= 0, first + self.variant_index[users], -1)

    def expose(self, session_users: np.ndarray) -> np.ndarray:
        """Positions of the sessions (given in time order, as user indices) that expose their
        user: the first session of each assigned user not exposed yet, who now is."""
        users, first = np.unique(np.asarray(session_users, dtype=np.int64), return_index=True)
        new = (self.experiment_index[users] >= 0) & ~self._exposed[users]
        self._exposed[users[new]] = True
        return np.sort(first[new])

    def labels(self, users: np.ndarray) -> dict[str, pa.Array]:
        """``experiment_key``, ``variant`` and ``model_name`` (the variant's strategy) of
        assigned users, as ``rec_impression`` payload columns."""
        codes = pa.array(self._codes(np.asarray(users, dtype=np.int64)))
        return {name: values.take(codes) for name, values in self._labels.items()}
