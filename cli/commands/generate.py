"""``shopflow generate``: land a synthetic shop's events."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)


def generate(
    users: int = typer.Option(..., "--users", help="Number of users (>= 1)."),
    days: int = typer.Option(..., "--days", help="Days to simulate (1..3650)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (>= 0); same seed, same data."),
    items: int = typer.Option(None, "--items", help="Catalog size (>= 10; default users/10)."),
    start: str = typer.Option(
        None, "--start", help="First day YYYY-MM-DD (UTC); default: the period ends yesterday."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    experiment: list[str] = typer.Option(
        [], "--experiment", help="Simulate this experiment of the experiments file (repeatable)."
    ),
    lift: list[str] = typer.Option(
        [],
        "--lift",
        help="A variant's purchase-probability multiplier, VARIANT=FACTOR (e.g. als=1.2) or "
        "EXPERIMENT:VARIANT=FACTOR (repeatable; default 1.0 = no effect).",
    ),
) -> None:
    """Generate a realistic synthetic shop (~1.85 events per user per day) into the landing
    zone: catalog, users, sessions and funnels, orders, payments, reviews, wishlists.
    With --experiment, users are assigned to its variants and exposed at their first session;
    --lift gives a variant a known effect on purchases (e.g. --experiment recs-strategy
    --lift als=1.2), which `shopflow materialize` then measures in experiment_results."""
    from rich.console import Console
    from rich.table import Table

    from cli.main import fail
    from shopflow.config import get_settings
    from shopflow.experiments.simulate import from_file
    from shopflow.synth import GenerateError, generate_shop

    settings = get_settings()
    try:
        experiments = from_file(experiment, lift, settings.experiments_file)
        report = generate_shop(
            users, days, seed, items=items, start=start, settings=settings, progress=progress,
            experiments=experiments,
        )  # fmt: skip
    except (GenerateError, ValueError) as exc:
        raise fail(str(exc)) from exc
    table = Table("event type", "events", title=f"landed in {settings.landing_dir}")
    for event_type, count in report.counts.items():
        table.add_row(event_type, f"{count:,}")
    table.add_row("[bold]total", f"[bold]{report.total_events:,}")
    console = Console()
    console.print(table)
    console.print(
        f"{report.users:,} users, {report.items:,} items, {report.days} days from "
        f"{report.start}, seed {report.seed}: {report.total_events:,} events in "
        f"{report.seconds:.1f} s ({report.events_per_second:,.0f} events/s), "
        f"{len(report.files)} files"
    )
    for exp, lifts in experiments:
        effect = ", ".join(f"{v}={f:g}" for v, f in lifts.items()) or "none (A/A)"
        console.print(f"experiment {exp.key}: simulated lifts {effect}")
