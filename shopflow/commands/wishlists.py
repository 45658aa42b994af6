"""``shopflow stream wishlist-alerts``: the consumer group turning catalog price and stock
changes into wishlist alerts (added to the ``stream`` group)."""

from __future__ import annotations

import typer


def register(_root: typer.Typer) -> None:
    from shopflow.commands import stream

    @stream.app.command("wishlist-alerts")
    def wishlist_alerts(
        metrics_port: int = stream._METRICS_PORT,
        batch_size: int = stream._BATCH,
        max_seconds: float = stream._SECONDS,
    ) -> None:
        """Emit wishlist.price_drop / wishlist.back_in_stock alerts (outbox) for catalog
        price drops and restocks of wishlisted products; once per user and source event."""
        run(metrics_port, batch_size, max_seconds)


def run(metrics_port: int | None, batch: int | None, seconds: float | None) -> None:
    import logging

    from rich.console import Console

    from shopflow import bus, services
    from shopflow.config import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    console = Console(stderr=True)
    settings = get_settings()
    try:
        from pipelines.streaming.runner import ConsumerRunner
        from pipelines.streaming.wishlist_alerts import WishlistAlertsProcessor

        runner = ConsumerRunner(WishlistAlertsProcessor(), settings, batch_size=batch)
        if metrics_port:
            from prometheus_client import start_http_server

            start_http_server(metrics_port, addr=settings.api_host)
        stats = runner.run(max_seconds=seconds)
    except (bus.BusUnavailable, services.ServiceError) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    console.print(
        f"{runner.group}: {stats.consumed} consumed, {stats.applied} applied, "
        f"{stats.dead_letters} dead-lettered in {stats.batches} batches"
    )
