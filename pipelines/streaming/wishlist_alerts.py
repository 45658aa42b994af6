"""Consumer group ``wishlist-alerts``: catalog price/stock changes -> wishlist alerts.

Each batch runs ``commerce.wishlists.alerts.handle_catalog_event`` per event in one
database transaction per event; alerts are deduplicated on the source event id there, so
redelivery after a crash emits nothing twice. Run: ``ConsumerRunner(WishlistAlertsProcessor())``.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from commerce.db import session_scope
from commerce.wishlists.alerts import HANDLED, handle_catalog_event
from pipelines.streaming.runner import Record
from shopflow import topics

NAME = "wishlist-alerts"


class WishlistAlertsProcessor:
    """See ``runner.Processor``. Durable as soon as ``process`` returns (DB commits)."""

    name = NAME
    topics: tuple[topics.Topic, ...] = (topics.CATALOG,)

    def process(self, records: list[Record]) -> int:
        applied = 0
        for record in records:
            if record.event.event_type not in HANDLED:
                continue
            try:
                with session_scope() as session:
                    applied += bool(handle_catalog_event(session, record.event))
            except IntegrityError:  # another worker recorded the same alerts first
                continue
        return applied

    def durable(self) -> bool:
        return True

    def tick(self) -> None:
        return None

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None
