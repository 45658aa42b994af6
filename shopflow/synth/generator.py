"""``generate_shop``: a realistic synthetic shop written to the landing zone.

Sizing: an active user makes ~0.3 sessions a day and a session yields ~7.3 events; 60 % of
users exist from day one and the rest register during the period. Over 30 days that is
about **1.85 events per user per day** (~2.2 once everyone has registered), plus the
catalog: 180k users x 30 days gave 9.99M events (16 s CPU, ~0.5 GB peak RSS).

The run is deterministic: the same arguments give the same rows (compare file contents;
file names carry a random suffix). Days are simulated one at a time, fully vectorised with
numpy, and buffered tables are flushed to the landing zone every ~1M rows.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shopflow import landing
from shopflow.config import Settings, get_settings
from shopflow.synth import catalog as catalog_mod
from shopflow.synth import population
from shopflow.synth.behaviour import simulate_browsing
from shopflow.synth.commerce import change_catalog, place_orders
from shopflow.synth.emit import DayEvents
from shopflow.synth.reviews import write_reviews
from shopflow.synth.world import World

if TYPE_CHECKING:
    from shopflow.experiments import Experiment

EVENTS_PER_USER_DAY = 1.85  # over a 30-day run; see the module docstring
MAX_DAYS = 3650
MIN_ITEMS = 10
FLUSH_ROWS = 1_000_000

ConversionMultiplier = Callable[[np.ndarray], np.ndarray]
SimulatedExperiment = tuple["Experiment", Mapping[str, float]]  # (experiment, variant -> lift)
EXPOSURE_DELAY_US = 500_000  # exposure after the session starts, before its first page


class GenerateError(ValueError):
    """Bad arguments to the generator."""


@dataclass
class GenerateReport:
    users: int
    items: int
    days: int
    seed: int
    start: date
    counts: dict[str, int] = field(default_factory=dict)  # events per event type
    seconds: float = 0.0
    files: list[Path] = field(default_factory=list)

    @property
    def total_events(self) -> int:
        return sum(self.counts.values())

    @property
    def events_per_second(self) -> float:
        return self.total_events / self.seconds if self.seconds else 0.0


def default_items(users: int) -> int:
    return max(200, min(20_000, users // 10))


def validate(
    users: int, days: int, seed: int, items: int | None, start: date | str | None
) -> tuple[int, date]:
    """Checked ``(items, start)``; raises ``GenerateError`` with a clear message."""
    if users < 1:
        raise GenerateError(f"--users must be at least 1 (got {users})")
    if not 1 <= days <= MAX_DAYS:
        raise GenerateError(f"--days must be between 1 and {MAX_DAYS} (got {days})")
    if seed < 0:
        raise GenerateError(f"--seed must be 0 or more (got {seed})")
    if items is not None and items < MIN_ITEMS:
        raise GenerateError(f"--items must be at least {MIN_ITEMS} (got {items})")
    if isinstance(start, str):
        try:
            start = date.fromisoformat(start)
        except ValueError:
            raise GenerateError(f"--start must be a date YYYY-MM-DD (got {start!r})") from None
    if start is None:
        start = datetime.now(UTC).date() - timedelta(days=days + 1)
    return (items if items is not None else default_items(users)), start


def generate_shop(
    users: int,
    days: int,
    seed: int,
    *,
    items: int | None = None,
    start: date | str | None = None,
    settings: Settings | None = None,
    progress: bool = True,
    conversion_multiplier: ConversionMultiplier | None = None,
    experiments: Sequence[SimulatedExperiment] = (),
) -> GenerateReport:
    """Generate ``days`` days of a shop with ``users`` users and land the events.

    ``start`` defaults to ``days + 1`` days before today (UTC): the period ends yesterday, and
    the few events that trail it (moderation, bank transfers: at most ~12 h) stay in the past.
    ``conversion_multiplier`` maps an array of user indices (0..users-1) to per-user
    multipliers of the per-session purchase probability (e.g. an A/B variant's effect).
    ``experiments`` simulates A/B tests with a known effect: ``[(experiment, {"als": 1.2})]``
    assigns users as ``/recommendations`` does, multiplies the purchase probability of a
    variant's users by its lift, and exposes each assigned user (a ``rec_impression`` naming
    experiment and variant) at the start of their first session
    (:class:`shopflow.experiments.simulate.ShopExperiments`).
    """
    items, start = validate(users, days, seed, items, start)
    settings = settings or get_settings()
    began = time.perf_counter()
    world = _world(users, days, seed, items, start, conversion_multiplier, experiments)
    report = GenerateReport(users=users, items=items, days=days, seed=seed, start=start)
    counts: Counter[str] = Counter()
    buffer: dict[str, list[pa.Table]] = {}
    buffered = 0

    def flush() -> None:
        nonlocal buffered
        for event_type, tables in buffer.items():
            report.files += landing.write_table(
                event_type, pa.concat_tables(tables), settings, prefix=f"synth-{world.tag}"
            )
        buffer.clear()
        buffered = 0

    with _progress(progress, days) as advance:
        for day in range(days):
            for event_type, table in _simulate_day(world, day).items():
                buffer.setdefault(event_type, []).append(table)
                counts[event_type] += table.num_rows
                buffered += table.num_rows
            if buffered >= FLUSH_ROWS:
                flush()
            advance(sum(counts.values()))
        flush()
    report.counts = dict(sorted(counts.items()))
    report.seconds = time.perf_counter() - began
    return report


def _world(
    users: int,
    days: int,
    seed: int,
    items: int,
    start: date,
    conversion_multiplier: ConversionMultiplier | None,
    experiments: Sequence[SimulatedExperiment] = (),
) -> World:
    rng = np.random.default_rng([seed, 0xC0FFEE])
    catalog = catalog_mod.build_catalog(items, rng)
    people = population.build_users(users, days, catalog.leaf_weight, rng)
    multiplier = np.ones(users)
    if conversion_multiplier is not None:
        multiplier = np.asarray(conversion_multiplier(np.arange(users)), dtype=np.float64)
        if multiplier.shape != (users,) or not np.all(np.isfinite(multiplier) & (multiplier >= 0)):
            raise GenerateError(
                "conversion_multiplier must return one finite, non-negative value per user"
            )
    simulated = None
    if experiments:
        from shopflow.experiments.simulate import ShopExperiments

        try:
            simulated = ShopExperiments(experiments, people.ids.to_pylist())
        except ValueError as exc:
            raise GenerateError(str(exc)) from None
        multiplier = multiplier * simulated.multiplier
    run = f"{users}|{days}|{seed}|{items}|{start.isoformat()}|{multiplier.tobytes().hex()}"
    if simulated is not None:
        run += f"|{simulated.fingerprint}"
    tag = hashlib.blake2b(run.encode(), digest_size=4).hexdigest()
    start_us = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()) * 10**6
    return World(
        seed=seed,
        tag=tag,
        start=start,
        days=days,
        catalog=catalog,
        users=people,
        conversion_multiplier=multiplier,
        start_us=start_us,
        experiments=simulated,
    )


def _simulate_day(world: World, day: int) -> dict[str, pa.Table]:
    out = DayEvents(world.tag, day, world.users.ids)
    day_start = world.day_start_us(day)
    if day == 0:
        n = world.catalog.size
        out.add(
            "product.upserted",
            np.full(n, day_start),
            None,
            None,
            **catalog_mod.upserted_payload(world.catalog),
        )
    joined = np.flatnonzero(world.users.reg_day == day)
    out.add(
        "user.registered",
        day_start + world.users.reg_offset_us[joined],
        joined,
        None,
        **population.registered_payload(world.users, joined),
    )
    change_catalog(world, day, out)
    checkout = simulate_browsing(world, day, out)
    _expose(world, out)
    paid = place_orders(world, day, out, checkout)
    write_reviews(world, day, out, paid)
    return out.tables()


def _expose(world: World, out: DayEvents) -> None:
    """Experiment exposures: a ``rec_impression`` naming experiment and variant at the start
    of each assigned user's first session."""
    if world.experiments is None or not out.parts.get("session_start"):
        return
    sessions = pa.concat_tables(out.parts["session_start"])  # in time order
    user = pc.index_in(sessions["user_id"], value_set=world.users.ids).to_numpy()
    first = world.experiments.expose(user)
    if len(first) == 0:
        return
    at = sessions["occurred_at"].cast(pa.int64()).to_numpy()[first] + EXPOSURE_DELAY_US
    out.add(
        "rec_impression",
        at,
        user[first],
        sessions["session_id"].take(pa.array(first)),
        request_id=out.ids("x", len(first)),
        item_ids=pa.array([[]] * len(first), pa.list_(pa.string())),
        model_version="sim",
        **world.experiments.labels(user[first]),
    )


class _progress:
    """A rich progress bar over days (or nothing when disabled)."""

    def __init__(self, enabled: bool, days: int) -> None:
        self.enabled, self.days = enabled, days

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda events: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        self.bar.start()
        task = self.bar.add_task("days", total=self.days)

        def advance(events: int) -> None:
            self.bar.update(task, advance=1, description=f"days ({events:,} events)")

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()
