"""Synthetic experiment data with a known effect per variant.

``simulate_users`` draws a per-user table (the ``analysis.analyze`` input) with numpy: users
are assigned by the real assignment function, each has a latent order rate (Gamma) that
drives both the pre-experiment and the in-experiment orders (so CUPED has signal), and
``effects`` scales a variant's order rate (``{"treatment": 1.2}`` = +20 %).

``exposure_events`` and ``conversion_multipliers`` let the shop generator simulate the same
effect on full event streams: exposures are ``rec_impression`` events naming the experiment
and variant; the multipliers feed the generator's per-user purchase-probability hook.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

import numpy as np
import pandas as pd

from shopflow import events
from shopflow.experiments.assignment import assign
from shopflow.experiments.config import Experiment


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
