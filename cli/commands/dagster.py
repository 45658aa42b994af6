"""``shopflow dagster webserver|daemon``: Dagster's own processes on Shopflow's code location
(``pipelines.definitions``), with DAGSTER_HOME under the data dir. The container image runs
them as two roles; ``--instance`` picks the instance config (``deploy/dagster.yaml``: storage
on PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import typer

NAME = "dagster"
app = typer.Typer(help="Dagster webserver and daemon on Shopflow's asset graph.")

CODE_LOCATION = ("-m", "pipelines.definitions")
#: DAGSTER_HOME (under SHOPFLOW_HOME) of an instance config given with ``--instance``: kept
#: apart from ``dagster/``, which ``shopflow materialize`` fills with the embedded config.
INSTANCE_DIR = "dagster-instance"

_INSTANCE = typer.Option(
    None,
    "--instance",
    exists=True,
    dir_okay=False,
    help="A dagster.yaml to run with (e.g. deploy/dagster.yaml: PostgreSQL storage); "
    "default: the repo's dagster.yaml (storage in the data dir).",
)


def dagster_home(instance: Path | None) -> Path:
    """DAGSTER_HOME holding ``instance`` (or the repo's dagster.yaml), created if needed."""
    from pipelines.instance import prepare_dagster_home
    from shopflow.config import get_settings

    settings = get_settings()
    if instance is None:
        return prepare_dagster_home(settings)
    home = settings.home_dir / INSTANCE_DIR
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != instance.read_bytes():
        tmp = home / ".dagster.yaml.tmp"
        shutil.copyfile(instance, tmp)
        os.replace(tmp, target)
    return home


def _exec(program: str, args: list[str], instance: Path | None) -> None:
    """Replace this process with ``program`` (signals reach Dagster directly)."""
    from pipelines.instance import QUIET_ENV
    from shopflow.config import get_settings

    settings = get_settings()
    try:
        home = dagster_home(instance)
    except OSError as exc:
        typer.echo(f"error: cannot prepare DAGSTER_HOME: {exc}", err=True)
        raise typer.Exit(2) from exc
    env = {
        **os.environ,
        **QUIET_ENV,
        "SHOPFLOW_HOME": str(settings.home_dir),
        "DAGSTER_HOME": str(home),
    }
    executable = str(Path(sys.executable).with_name(program))
    typer.echo(f"{program}: DAGSTER_HOME={home}", err=True)
    os.execve(executable, [executable, *args], env)


@app.command("webserver")
def webserver(
    host: str = typer.Option(None, help="Interface to bind (default: settings api_host)."),
    port: int = typer.Option(None, min=1, max=65535, help="Port (default: settings dagster_port)."),
    instance: Path = _INSTANCE,
) -> None:
    """The Dagster UI and GraphQL API (health: /server_info)."""
    from shopflow.config import get_settings

    settings = get_settings()
    host = host or settings.api_host
    port = port or settings.dagster_port
    _exec("dagster-webserver", [*CODE_LOCATION, "-h", host, "-p", str(port)], instance)


@app.command("daemon")
def daemon(instance: Path = _INSTANCE) -> None:
    """The Dagster daemon: schedules, sensors and the run queue (one run at a time)."""
    _exec("dagster-daemon", ["run", *CODE_LOCATION], instance)
