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


def _refuse(path: Path, errors: list[str], code: int) -> typer.Exit:
    typer.echo(f"error: {path} is not a valid experiments file:", err=True)
    for line in errors:  # "features.<key>.<where>: <reason>"
        typer.echo(f"  {path}: {line}", err=True)
    return typer.Exit(code)


def _load(path: Path | None, code: int = 2) -> ExperimentsConfig:
    from shopflow.experiments import ExperimentsFileError, load_experiments

    try:
        return load_experiments(path)
    except ExperimentsFileError as exc:
        raise _refuse(exc.path, exc.errors, code) from exc


@app.command("validate")
def validate(
    path: Path | None = FILE_ARG,
    warehouse: Path | None = typer.Option(
        None,
        "--warehouse",
        help="DuckDB file to run the metrics' SQL on (default: the data "
        "dir's warehouse, when it exists).",
    ),
) -> None:
    """Check the experiments file (features, experiments, metrics); exit 1 naming the file,
    the feature and the reason when it is invalid."""
    import duckdb

    from shopflow.config import get_settings
    from shopflow.experiments.metrics import check_metric_sql

    settings = get_settings()
    config = _load(path, code=1)
    warehouse = warehouse or settings.warehouse_path
    if config.metrics and warehouse.exists():
        try:
            with duckdb.connect(str(warehouse), read_only=True) as con:
                problems = check_metric_sql(con, config.metrics)
        except duckdb.Error as exc:
            typer.echo(f"error: cannot open the warehouse {warehouse}: {exc}", err=True)
            raise typer.Exit(1) from exc
        if problems:
            raise _refuse(Path(path or settings.experiments_file), problems, 1)
        typer.echo(f"ok  {len(config.metrics)} metric(s) ran on {warehouse}")
    elif config.metrics:
        typer.echo(f"note: no warehouse at {warehouse}; metrics' SQL not run")
    for feature in config.features:
        typer.echo(f"ok  feature {feature.key} ({feature.type}) {len(feature.rules)} rule(s)")
    for exp in config.experiments:
        split = ", ".join(f"{v.key}={v.weight:g}:{v.strategy}" for v in exp.variants)
        typer.echo(f"ok  {exp.key} [{exp.status}] coverage={exp.coverage:g} {split}")
    typer.echo(f"{len(config.features)} feature(s), {len(config.experiments)} experiment(s), "
               f"{len(config.running)} running, {len(config.metrics)} metric(s)")  # fmt: skip


client_key_app = typer.Typer(help="SDK client keys for GET /api/features/{client_key}.")
app.add_typer(client_key_app, name="client-key")


@client_key_app.command("create")
def create_client_key(
    env: str = typer.Option(..., "--env", help="Environment, e.g. production or staging."),
) -> None:
    """Create a client key and print it once: only its hash is stored."""
    from commerce import client_keys
    from commerce.db import migrate
    from commerce.errors import Invalid

    migrate.upgrade()
    try:
        key = client_keys.create(env)
    except Invalid as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"created a client key for {env}; it is shown only now:", err=True)
    typer.echo(key)


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
