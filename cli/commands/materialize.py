"""``shopflow materialize``: run every asset of the Dagster code location once, in-process."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import typer

from shopflow.config import Settings, get_settings

if TYPE_CHECKING:
    import dagster as dg
    from dagster import DagsterEvent

    from cli.progress import ProgressReport

JOB_NAME = "shopflow_materialize"


class MaterializeError(RuntimeError):
    """A step failed; ``failed_steps`` names them."""

    def __init__(self, failed_steps: list[str]) -> None:
        super().__init__("failed steps: " + ", ".join(failed_steps))
        self.failed_steps = failed_steps


def _event_handler(report: Callable[[DagsterEvent], None]) -> logging.Handler:
    class StepProgress(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            meta = getattr(record, "dagster_meta", None) or {}
            event = meta.get("dagster_event")
            if event is not None:
                report(event)

    return StepProgress()


def _logger_def(name: str, handler: logging.Handler) -> dg.LoggerDefinition:
    import dagster as dg

    @dg.logger
    def handler_logger(_init_context: Any) -> logging.Logger:
        logger = logging.getLogger(f"shopflow.materialize.{name}")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        if handler not in logger.handlers:
            logger.addHandler(handler)
        return logger

    return handler_logger


def materialize_all(
    settings: Settings | None = None,
    selection: str | None = None,
    report: Callable[[DagsterEvent], None] | None = None,
    full_refresh: bool = False,
    log_file: Path | None = None,
    verbose: bool = False,
) -> dg.ExecuteInProcessResult:
    """Materialize every asset (or ``selection``, Dagster selection syntax) once, in-process,
    on the instance in ``$SHOPFLOW_HOME/dagster``; ``full_refresh`` rebuilds the incremental
    marts from scratch. ``report`` gets every Dagster event, ``log_file`` every log line,
    ``verbose`` prints Dagster's own log too. Returns the result; never raises on a step
    failure (check ``result.success``; :func:`failed_steps` names them)."""
    import dagster as dg

    from pipelines.definitions import build_definitions
    from pipelines.instance import QUIET_ENV, prepare_dagster_home

    settings = settings or get_settings()
    settings.ensure_dirs()
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    home = prepare_dagster_home(settings)
    os.environ["DAGSTER_HOME"] = str(home)  # dagster.yaml reads it (event log location)

    handlers = {"progress": _event_handler(report or (lambda event: None))}
    if log_file is not None:
        from cli.progress import file_handler

        handlers["file"] = file_handler(log_file)
    loggers: dict[str, dg.LoggerDefinition] = {
        name: _logger_def(name, handler) for name, handler in handlers.items()
    }
    run_config: dict[str, Any] = {"loggers": {name: {} for name in loggers}}
    if verbose:
        loggers["console"] = dg.colored_console_logger
        run_config["loggers"]["console"] = {"config": {"log_level": "DEBUG"}}

    base = build_definitions(settings)
    chosen = dg.AssetSelection.from_string(selection) if selection else dg.AssetSelection.all()
    if not chosen.resolve(base.resolve_asset_graph()):
        raise ValueError(f"the selection {selection!r} matches no asset")
    job = dg.define_asset_job(JOB_NAME, selection=chosen)
    defs = dg.Definitions.merge(base, dg.Definitions(jobs=[job]))
    job_def = defs.resolve_job_def(JOB_NAME).with_logger_defs(loggers)
    if full_refresh:
        from pipelines.assets.warehouse import FULL_REFRESH_RUN_CONFIG

        ops = {k: v for k, v in FULL_REFRESH_RUN_CONFIG["ops"].items() if job_def.has_node(k)}
        run_config["ops"] = ops
    with dg.DagsterInstance.from_config(str(home)) as instance:
        try:
            return job_def.execute_in_process(
                run_config=run_config, instance=instance, raise_on_error=False
            )
        finally:
            for name, handler in handlers.items():
                logging.getLogger(f"shopflow.materialize.{name}").removeHandler(handler)
                handler.close()


def run_reported(
    settings: Settings,
    out: TextIO,
    selection: str | None = None,
    full_refresh: bool = False,
    verbose: bool = False,
) -> tuple[dg.ExecuteInProcessResult, ProgressReport, Path]:
    """Materialize, printing one line per asset to ``out``; everything else (all of it with
    ``verbose``) goes to a new log file under ``$SHOPFLOW_HOME/logs``. Returns the result,
    the report (for its summary) and the log's path."""
    from rich.console import Console

    from cli.progress import ProgressReport, log_path, output_to

    settings.ensure_dirs()
    log = log_path(settings)
    colours = verbose and out.isatty()
    os.environ["DBT_USE_COLORS"] = "true" if colours else "false"  # dbt's own ANSI codes
    run = functools.partial(
        materialize_all, settings, selection, full_refresh=full_refresh, log_file=log
    )
    if verbose:
        report = ProgressReport(Console(file=out))
        return run(report=report, verbose=True), report, log
    with output_to(log) as terminal:
        report = ProgressReport(Console(file=terminal))
        result = run(report=report)
    return result, report, log


def failed_steps(result: dg.ExecuteInProcessResult) -> list[str]:
    return [event.step_key or "?" for event in result.get_step_failure_events()]


def register(app: typer.Typer) -> None:
    @app.command("materialize")
    def materialize(
        select: str = typer.Option(
            None, "--select", "-s", help="Asset selection, e.g. 'key:fct_interactions+'."
        ),
        full_refresh: bool = typer.Option(
            False, "--full-refresh", help="Rebuild the incremental marts from scratch."
        ),
        verbose: bool = typer.Option(
            False, "--verbose", "-v", help="Also print Dagster's and dbt's full log."
        ),
    ) -> None:
        """Run every asset of the Dagster code location once (landing -> dbt -> ...): one
        line per asset, a summary, and the full Dagster and dbt log in a file."""
        import sys

        from rich.console import Console

        console = Console()
        settings = get_settings()
        try:
            result, report, log = run_reported(
                settings, sys.stdout, select, full_refresh=full_refresh, verbose=verbose
            )
        except Exception as exc:  # a bad selection or a broken code location
            Console(stderr=True).print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from exc
        console.print(report.summary(log), soft_wrap=True, highlight=False)
        failed = failed_steps(result)
        if failed or not result.success:
            Console(stderr=True).print(
                f"[bold red]error:[/] failed step(s): {', '.join(failed) or 'unknown'}"
            )
            raise typer.Exit(1)
