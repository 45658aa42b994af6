"""``shopflow stream``: run the real-time consumer groups and show their lag."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from pipelines.streaming.runner import Processor
    from shopflow.config import Settings

NAME = "stream"
app = typer.Typer(help="Real-time pipeline: Kafka consumer groups and their lag.")

_METRICS_PORT = typer.Option(
    None, "--metrics-port", help="Serve Prometheus /metrics (incl. lag) on this port."
)
_BATCH = typer.Option(None, "--batch-size", min=1, help="Most messages per batch.")
_SECONDS = typer.Option(None, "--max-seconds", min=0.1, help="Stop after this long.")


def run_consumer(
    make_processor: Callable[[Settings], Processor],
    metrics_port: int | None,
    batch: int | None,
    seconds: float | None,
    config_errors: tuple[type[Exception], ...] = (),
) -> None:
    """Run one consumer group until SIGTERM (or ``seconds``); a broker, service or
    configuration problem is a clear message and exit code 2. Every ``stream`` command uses it."""
    from rich.console import Console

    from pipelines.streaming.runner import ConsumerRunner
    from shopflow import bus, embedded, logs, tracing
    from shopflow.config import InsecureSettings, check_startup, get_settings

    console = Console(stderr=True)
    settings = get_settings()
    logs.configure(settings)
    tracing.configure(settings, "stream")
    try:
        console.print(check_startup(settings, "consumer"))
    except InsecureSettings as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    handled: tuple[type[Exception], ...] = (bus.BusUnavailable, embedded.ServiceError)
    try:
        runner = ConsumerRunner(make_processor(settings), settings, batch_size=batch)
        if metrics_port:
            from prometheus_client import start_http_server

            start_http_server(metrics_port, addr=settings.api_host)
            console.print(f"metrics on http://{settings.api_host}:{metrics_port}/metrics")
        stats = runner.run(max_seconds=seconds)
    except handled + config_errors as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    finally:
        tracing.shutdown()  # spans of the last batches
    console.print(
        f"{runner.group}: {stats.consumed} consumed, {stats.applied} applied, "
        f"{stats.dead_letters} dead-lettered in {stats.batches} batches"
    )


def _features(settings: Settings) -> Processor:
    from pipelines.streaming.features import FeaturesProcessor
    from shopflow import embedded
    from shopflow.online_store import connect

    return FeaturesProcessor(connect.connect(embedded.ensure_redis(settings), settings), settings)


def _sink(settings: Settings) -> Processor:
    from pipelines.streaming.sink import SinkProcessor

    return SinkProcessor(settings)


@app.command("features")
def features(
    metrics_port: int = _METRICS_PORT, batch_size: int = _BATCH, max_seconds: float = _SECONDS
) -> None:
    """Update Redis online features and live metrics from behaviour, order and catalog events."""
    run_consumer(_features, metrics_port, batch_size, max_seconds)


@app.command("sink")
def sink(
    metrics_port: int = _METRICS_PORT, batch_size: int = _BATCH, max_seconds: float = _SECONDS
) -> None:
    """Write every event topic to landing Parquet (offsets committed after each file)."""
    run_consumer(_sink, metrics_port, batch_size, max_seconds)


@app.command("status")
def status() -> None:
    """Each consumer group's lag: committed offset vs high watermark, per partition."""
    from rich.console import Console
    from rich.table import Table

    from pipelines.streaming.status import group_lag
    from shopflow import bus, embedded
    from shopflow.config import get_settings

    console = Console()
    settings = get_settings()  # a status never starts a broker: the embedded one must run
    if not settings.kafka_bootstrap_servers and embedded.status(settings)["kafka"] is None:
        console.print(
            "the embedded broker is not running: no consumer group lag to show "
            "(`shopflow services up` or `shopflow demo` starts it)"
        )
        return
    try:
        rows = group_lag(settings)
    except bus.BusUnavailable as exc:
        Console(stderr=True).print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    table = Table("group", "topic", "partition", "committed", "high watermark", "lag")
    totals: dict[str, int] = {}
    for row in rows:
        committed = "-" if row.committed is None else str(row.committed)
        table.add_row(
            row.group, row.topic, str(row.partition), committed, str(row.high), str(row.lag)
        )
        totals[row.group] = totals.get(row.group, 0) + row.lag
    console.print(table)
    for group, lag in totals.items():
        console.print(f"{group}: total lag {lag}")
