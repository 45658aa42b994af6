"""``shopflow experiments``: validate the experiments file, list it, look up a user's variant."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from shopflow.experiments import ExperimentsConfig

NAME = "experiments"
app = typer.Typer(help="A/B experiments (experiments.yaml).", no_args_is_help=True)

FILE_ARG = typer.Argument(None, help="Experiments file; SHOPFLOW_EXPERIMENTS_FILE by default.")


def _load(path: Path | None) -> ExperimentsConfig:
    from shopflow.experiments import ExperimentsFileError, load_experiments

    try:
        return load_experiments(path)
    except ExperimentsFileError as exc:
        typer.echo(f"error: {exc.path} is not a valid experiments file:", err=True)
        for line in exc.errors:
            typer.echo(f"  - {line}", err=True)
        raise typer.Exit(2) from exc


@app.command("validate")
def validate(path: Path | None = FILE_ARG) -> None:
    """Check the experiments file; exit 2 with the reasons when it is invalid."""
    config = _load(path)
    for exp in config.experiments:
        split = ", ".join(f"{v.key}={v.weight:g}:{v.strategy}" for v in exp.variants)
        typer.echo(f"ok  {exp.key} [{exp.status}] coverage={exp.coverage:g} {split}")
    typer.echo(f"{len(config.experiments)} experiment(s), {len(config.running)} running")


@app.command("assign")
def assign_user(
    user_id: str = typer.Argument(..., help="The user id."),
    path: Path | None = typer.Option(None, "--file", help="Experiments file."),
) -> None:
    """Show the variant (and strategy) each running experiment gives a user."""
    from shopflow.experiments import assign

    config = _load(path)
    if not config.running:
        typer.echo("no running experiments")
    for exp in config.running:
        a = assign(exp, user_id)
        where = f"{a.variant} (strategy {a.strategy}, bucket {a.bucket})" if a else "not enrolled"
        typer.echo(f"{exp.key}: {where}")
