"""The worker's clients, made once by the app's lifespan (``serving.app``) and stored at
``app.state.clients``; routers get them only through the ``serving.deps`` aliases."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from commerce.notifications.channels import Channel
from commerce.notifications.live import Fanout
from serving.events_ingest import LazyProducer
from serving.experiments import ExperimentsService, ExposureLog
from serving.readiness import Readiness
from serving.recommendations.reader import OnlineStore
from serving.security.audit import AuditWriter
from serving.security.ratelimit import RateLimiter
from shopflow.config import Settings
from shopflow.online_store.connect import AsyncClient


@dataclass(frozen=True, slots=True)
class Clients:
    settings: Settings
    redis: AsyncClient
    """Standalone or cluster (``shopflow.online_store.connect``)."""
    online_store: OnlineStore
    """The recommendation reader (``serving.recommendations.reader``)."""
    event_producer: LazyProducer
    experiments: ExperimentsService
    exposures: ExposureLog
    notify_channels: Mapping[str, Channel]
    """Notification channels (SMTP connection, vendor clients) by name."""
    notify_fanout: Fanout
    """The worker's one pub/sub listener for its in-app WebSockets."""
    readiness: Readiness
    """What ``/readyz`` checks (database, Redis, broker, a publication)."""
    rate_limiter: RateLimiter | None = None
    """Rate limits in Redis (``serving.security.ratelimit``); None when disabled."""
    audit: AuditWriter | None = None
    """Group commit of the audit log (``serving.security.audit``)."""
