"""``shopflow stream notify`` (the notifications consumer group, added to the stream group)
and ``shopflow notify ...`` (the delivery scheduler without Kafka, template seeding)."""

from __future__ import annotations

import typer

NAME = "notify"
app = typer.Typer(help="Notifications: the delivery scheduler and templates.")


def register(_root: typer.Typer) -> None:
    from cli.commands import stream

    @stream.app.command("notify")
    def stream_notify(
        metrics_port: int = stream._METRICS_PORT,
        batch_size: int = stream._BATCH,
        max_seconds: float = stream._SECONDS,
    ) -> None:
        """Send notifications for commerce events (workflows in notifications.yaml); also
        runs the scheduler (digests, quiet hours, retries)."""
        _run_consumer(metrics_port, batch_size, max_seconds)


def _run_consumer(metrics_port: int | None, batch: int | None, seconds: float | None) -> None:
    from cli.commands import stream
    from commerce.notifications.workflows import WorkflowConfigError
    from pipelines.streaming.notify import NotifyProcessor

    stream.run_consumer(
        NotifyProcessor, metrics_port, batch, seconds, (WorkflowConfigError, ValueError)
    )


@app.command("worker")
def worker(
    once: bool = typer.Option(False, "--once", help="One pass, then exit."),
    interval: float = typer.Option(None, "--interval", min=0.1, help="Seconds between passes."),
) -> None:
    """Send due deliveries (deferred, retried) and close digest windows, without Kafka."""
    import signal
    import threading

    from rich.console import Console

    from commerce.notifications import channels as registry
    from pipelines.streaming.notify import run_scheduled
    from shopflow.config import get_settings

    console = Console(stderr=True)
    settings = get_settings()
    try:
        channels = registry.build(settings)
    except ValueError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    stop = threading.Event()
    if not once:  # a single pass needs no handlers (and leaves its caller's alone)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    try:
        while True:
            done = run_scheduled(channels)
            if done:
                console.print(f"sent {sum(s in ('sent', 'delivered') for s in done.values())} "
                              f"of {len(done)} due deliveries")  # fmt: skip
            if once or stop.wait(interval or settings.notify_worker_interval_s):
                break
    finally:
        registry.close_all(channels)


@app.command("seed-templates")
def seed_templates() -> None:
    """Store version 1 of every default template missing from the database."""
    from commerce.db import session_scope
    from commerce.notifications import templates

    with session_scope() as session:
        added = templates.seed_defaults(session)
    typer.echo(f"seeded {added} template(s)")
