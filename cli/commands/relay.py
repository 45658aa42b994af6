"""``shopflow relay``: publish the commerce outbox to the event bus or the landing zone."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("relay")
    def relay(
        once: bool = typer.Option(False, "--once", help="Drain the outbox, then exit."),
        kafka: bool = typer.Option(
            None,
            "--kafka/--landing",
            help="Publish to Kafka (KAFKA_BOOTSTRAP_SERVERS or the embedded broker) or to "
            "the landing zone. Default: Kafka when KAFKA_BOOTSTRAP_SERVERS is set.",
        ),
        batch_size: int = typer.Option(500, min=1, max=10_000, help="Rows per batch."),
    ) -> None:
        """Publish outbox rows (at least once, in order, keyed by aggregate)."""
        import signal
        import threading

        from rich.console import Console

        from commerce import relay as outbox_relay
        from shopflow import logs, tracing
        from shopflow.config import InsecureSettings, check_startup, get_settings

        console = Console(stderr=True)
        logs.configure()
        tracing.configure(role="relay")
        try:
            console.print(check_startup(get_settings(), "relay"))
        except InsecureSettings as exc:
            console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from exc
        try:
            sink = outbox_relay.make_sink(kafka=kafka)
        except Exception as exc:
            console.print(f"[bold red]error:[/] cannot open the event sink: {exc}")
            raise typer.Exit(2) from exc
        from shopflow import shutdown
        from shopflow.config import get_settings

        stop = threading.Event()
        grace = get_settings().shutdown_grace_s

        def on_signal(*_: object) -> None:
            stop.set()
            shutdown.exit_within(grace)

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)
        console.print(f"relay -> {sink.name}; pending {outbox_relay.pending_count()}")
        try:
            total = outbox_relay.run(
                sink,
                once=once,
                batch_size=batch_size,
                stop=stop,
                on_batch=lambda n: console.print(f"published {n}"),
            )
        except Exception as exc:
            console.print(f"[bold red]error:[/] relay failed: {exc}")
            raise typer.Exit(1) from exc
        finally:
            sink.close()
            tracing.shutdown()
        console.print(f"published {total} events")
