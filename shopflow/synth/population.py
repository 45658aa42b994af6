"""Synthetic users: country, device, registration time, activity rate, buying propensity,
price tier and latent tastes: a Dirichlet over a few favourite categories per user."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from shopflow.synth import vocab
from shopflow.synth.columns import format_ids

FAVOURITES = 5  # favourite leaves per user
DAY_US = 86_400_000_000
SESSIONS_PER_USER_DAY = 0.3  # mean session rate of an active user


@dataclass
class Users:
    ids: pa.StringArray
    country: np.ndarray  # index into vocab.COUNTRIES
    device: np.ndarray  # preferred device index (events.Device order)
    reg_day: np.ndarray  # day index of registration
    reg_offset_us: np.ndarray  # time of day of registration
    activity: np.ndarray  # expected sessions per day
    propensity: np.ndarray  # relative purchase propensity (mean 1)
    tier: np.ndarray  # preferred price tier
    fav: np.ndarray  # (n, FAVOURITES) leaf indices
    fav_weight: np.ndarray  # (n, FAVOURITES) taste weights, rows sum to 1
    spammer: np.ndarray  # bool: accounts that post spam reviews

    @property
    def size(self) -> int:
        return len(self.activity)

    def taste(self, user: np.ndarray, leaf: np.ndarray) -> np.ndarray:
        """Taste weight of each (user, leaf) pair; 0 for leaves outside the favourites."""
        hit = self.fav[user] == leaf[:, None]
        weights: np.ndarray = (self.fav_weight[user] * hit).sum(axis=1)
        return weights

    def sample_leaf(self, rng: np.random.Generator, user: np.ndarray) -> np.ndarray:
        """One favourite leaf per entry of ``user``, by taste weight."""
        cum = np.cumsum(self.fav_weight[user], axis=1)
        pick = (cum < rng.random(len(user))[:, None]).sum(axis=1)
        leaves: np.ndarray = self.fav[user, np.minimum(pick, FAVOURITES - 1)]
        return leaves


def build_users(
    n: int, days: int, leaf_weight: np.ndarray, rng: np.random.Generator, chunk: int = 200_000
) -> Users:
    n_leaves = len(leaf_weight)
    k = min(FAVOURITES, n_leaves)
    fav = np.empty((n, FAVOURITES), dtype=np.int64)
    # Favourites drawn without replacement by category popularity (Gumbel top-k), in chunks.
    log_w = np.log(leaf_weight)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        keys = log_w + rng.gumbel(size=(hi - lo, n_leaves))
        top = np.argsort(-keys, axis=1)[:, :k]
        fav[lo:hi] = np.resize(top, (hi - lo, FAVOURITES)) if k < FAVOURITES else top
    fav_weight = rng.dirichlet(np.full(FAVOURITES, 0.6), size=n)
    if k < FAVOURITES:  # tiny catalogs: fold duplicate favourites onto the first copy
        fav_weight[:, k:] = 0.0
        fav_weight /= fav_weight.sum(axis=1, keepdims=True)

    reg_day = np.where(rng.random(n) < 0.6, 0, rng.integers(0, days, n))
    reg_offset = np.where(
        reg_day == 0, rng.integers(0, 2 * 3_600_000_000, n), rng.integers(0, DAY_US, n)
    )
    activity = SESSIONS_PER_USER_DAY * rng.lognormal(-0.5, 1.0, n)  # lognormal mean exp(0)=1
    propensity = rng.lognormal(-0.125, 0.5, n)  # mean 1
    country_p = np.array([p for _, p in vocab.COUNTRIES])
    spammer = rng.random(n) < 0.003
    spammer[: max(0, 3 - int(spammer.sum()))] = True  # a few spam accounts even in tiny runs
    width = max(6, len(str(n - 1)))
    return Users(
        ids=format_ids(n, "u", (np.arange(n), width)),
        country=rng.choice(len(country_p), size=n, p=country_p / country_p.sum()),
        device=rng.choice(3, size=n, p=[0.35, 0.55, 0.10]),
        reg_day=reg_day.astype(np.int64),
        reg_offset_us=reg_offset.astype(np.int64),
        activity=activity,
        propensity=propensity,
        tier=rng.choice(3, size=n, p=[0.35, 0.4, 0.25]),
        fav=fav,
        fav_weight=fav_weight,
        spammer=spammer,
    )


def registered_payload(users: Users, index: np.ndarray) -> dict[str, object]:
    """The landed columns of user.registered: the country only (the email is PII and never
    lands, see ``events.PII``)."""
    codes = [c for c, _ in vocab.COUNTRIES]
    return {"country": pa.array(codes).take(pa.array(users.country[index]))}
