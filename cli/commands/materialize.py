"""``shopflow materialize``: run every asset of the Dagster code location once, in-process."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from shopflow.config import Settings, get_settings

if TYPE_CHECKING:
    import dagster as dg

JOB_NAME = "shopflow_materialize"
PROGRESS_EVENTS = ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE", "ASSET_CHECK_EVALUATION")


class MaterializeError(RuntimeError):
    """A step failed; ``failed_steps`` names them."""

    def __init__(self, failed_steps: list[str]) -> None:
        super().__init__("failed steps: " + ", ".join(failed_steps))
        self.failed_steps = failed_steps


def _progress_handler(report: Callable[[str], None]) -> logging.Handler:
    class StepProgress(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            meta = getattr(record, "dagster_meta", None) or {}
            event = meta.get("dagster_event")
            if event is None or event.event_type_value not in PROGRESS_EVENTS:
                return
            if event.event_type_value == "ASSET_CHECK_EVALUATION":
                data = event.event_specific_data
                state = "passed" if data.passed else f"FAILED ({data.severity.value})"
                report(f"  check {data.asset_key.to_user_string()}:{data.check_name} {state}")
                return
            verb = event.event_type_value.removeprefix("STEP_").lower()
            report(f"{verb:>7} {event.step_key}")

    return StepProgress()


def materialize_all(
    settings: Settings | None = None,
    selection: str | None = None,
    report: Callable[[str], None] | None = None,
    full_refresh: bool = False,
) -> dg.ExecuteInProcessResult:
    """Materialize every asset (or ``selection``, Dagster selection syntax) once, in-process,
    on the instance in ``$SHOPFLOW_HOME/dagster``; ``full_refresh`` rebuilds the incremental
    marts from scratch. Returns the result; never raises on a step failure (check
    ``result.success``; :func:`failed_steps` names them)."""
    import dagster as dg

    from pipelines.definitions import build_definitions
    from pipelines.instance import QUIET_ENV, prepare_dagster_home

    settings = settings or get_settings()
    settings.ensure_dirs()
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    home = prepare_dagster_home(settings)
    os.environ["DAGSTER_HOME"] = str(home)  # dagster.yaml reads it (event log location)

    handler = _progress_handler(report or (lambda line: None))

    @dg.logger
    def progress_logger(_init_context: Any) -> logging.Logger:
        logger = logging.getLogger("shopflow.materialize")
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        if handler not in logger.handlers:
            logger.addHandler(handler)
        return logger

    base = build_definitions(settings)
    job = dg.define_asset_job(
        JOB_NAME,
        selection=dg.AssetSelection.from_string(selection)
        if selection
        else dg.AssetSelection.all(),
    )
    defs = dg.Definitions.merge(base, dg.Definitions(jobs=[job]))
    job_def = defs.resolve_job_def(JOB_NAME).with_logger_defs({"progress": progress_logger})
    run_config: dict[str, Any] = {"loggers": {"progress": {}}}
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
            logging.getLogger("shopflow.materialize").removeHandler(handler)


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
    ) -> None:
        """Run every asset of the Dagster code location once (landing -> dbt -> ...)."""
        from rich.console import Console

        console = Console()
        try:
            result = materialize_all(
                selection=select, report=console.print, full_refresh=full_refresh
            )
        except Exception as exc:  # a bad selection or a broken code location
            Console(stderr=True).print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from exc
        materialized = result.get_asset_materialization_events()
        checks = result.get_asset_check_evaluations()
        failed_checks = [c for c in checks if not c.passed]
        warned = sum(c.severity.value == "WARN" for c in failed_checks)
        console.print(
            f"materialized {len(materialized)} assets; checks: "
            f"{len(checks) - len(failed_checks)} passed, {warned} warned (not blocking), "
            f"{len(failed_checks) - warned} failed"
        )
        failed = failed_steps(result)
        if failed or not result.success:
            Console(stderr=True).print(
                f"[bold red]error:[/] failed step(s): {', '.join(failed) or 'unknown'}"
            )
            raise typer.Exit(1)
