"""``shopflow stream wishlist-alerts``: the consumer group turning catalog price and stock
changes into wishlist alerts (added to the ``stream`` group)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from pipelines.streaming.runner import Processor
    from shopflow.config import Settings


def register(_root: typer.Typer) -> None:
    from cli.commands import stream

    @stream.app.command("wishlist-alerts")
    def wishlist_alerts(
        metrics_port: int = stream._METRICS_PORT,
        batch_size: int = stream._BATCH,
        max_seconds: float = stream._SECONDS,
    ) -> None:
        """Emit wishlist.price_drop / wishlist.back_in_stock alerts (outbox) for catalog
        price drops and restocks of wishlisted products; once per user and source event."""
        stream.run_consumer(_processor, metrics_port, batch_size, max_seconds)


def _processor(settings: Settings) -> Processor:
    from pipelines.streaming.wishlist_alerts import WishlistAlertsProcessor

    return WishlistAlertsProcessor()
