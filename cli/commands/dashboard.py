"""``shopflow dashboard``: serve a marimo dashboard (analytics, experiments or models) as an app.

Dashboards read a snapshot of the warehouse (never the live file), so they never block a
pipeline run; see notebooks/dashboard_data.py. Serving one writes nothing into the checkout:
marimo's ``__marimo__`` session cache (and any bytecode) goes under ``$SHOPFLOW_HOME/dashboard``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import typer

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
DASHBOARDS = {
    "analytics": "analytics_dashboard.py",
    "experiments": "experiment_report.py",
    "models": "model_report.py",
}


def notebook_path(name: str) -> Path:
    if name not in DASHBOARDS:
        raise KeyError(name)
    return NOTEBOOKS_DIR / DASHBOARDS[name]


def marimo_command(name: str, host: str, port: int) -> list[str]:
    marimo = str(Path(sys.executable).parent / "marimo")
    return [marimo, "run", str(notebook_path(name)), "--host", host, "--port", str(port),
            "--headless", "--no-token"]  # fmt: skip


def marimo_env(home: Path) -> dict[str, str]:
    """The environment for ``marimo run``: marimo puts its ``__marimo__`` folder (session
    cache) under ``sys.pycache_prefix`` when one is set, so point that at the data dir."""
    return os.environ | {"PYTHONPYCACHEPREFIX": str((home / "dashboard" / "cache").resolve())}


def register(app: typer.Typer) -> None:
    @app.command("dashboard")
    def dashboard(
        name: str = typer.Argument("analytics", help="analytics, experiments or models."),
        host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
        port: int = typer.Option(2718, help="Port to serve on."),
    ) -> None:
        """Serve a dashboard notebook as a read-only app (Ctrl-C stops it)."""
        if name not in DASHBOARDS:
            typer.echo(f"error: unknown dashboard {name!r}; use {', '.join(DASHBOARDS)}", err=True)
            raise typer.Exit(2)
        if not notebook_path(name).exists():
            typer.echo(f"error: {notebook_path(name)} is missing", err=True)
            raise typer.Exit(2)
        from shopflow.config import get_settings

        typer.echo(f"serving {name} dashboard on http://{host}:{port}")
        try:
            env = marimo_env(get_settings().home_dir)
            code = subprocess.call(marimo_command(name, host, port), env=env)
        except KeyboardInterrupt:
            code = 0
        raise typer.Exit(code)
