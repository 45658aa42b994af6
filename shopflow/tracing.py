"""OpenTelemetry traces, exported over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

``configure`` installs a tracer provider once per process: root traces are sampled at
``SHOPFLOW_TRACE_SAMPLE_RATIO`` (children follow their parent's decision; the API draws per
request ahead of the instrumentation, ``serving.trace_gate``), spans leave in
batches from a background thread. SQLAlchemy and Redis are instrumented here for every
role; the API adds FastAPI (``serving.app``); the Kafka producer (``shopflow.bus``) and the
consumers (``pipelines.streaming.runner``) open one span per batch and carry the W3C
``traceparent`` in each message's headers. With no endpoint, nothing is installed and the
spans those modules open are the API's no-op ones.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from shopflow.config import Settings, get_settings

log = logging.getLogger(__name__)
tracer = trace.get_tracer("shopflow")
_lock = threading.Lock()
_provider: object | None = None
TRACEPARENT = "traceparent"


__all__ = ["TRACEPARENT", "SpanKind", "configure", "enabled", "links", "shutdown", "tracer"]


def enabled() -> bool:
    return _provider is not None


def configure(settings: Settings | None = None, role: str = "api") -> bool:
    """Install the OTLP exporter and the SQLAlchemy and Redis instrumentation (once per
    process). Returns whether tracing is on."""
    global _provider
    settings = settings or get_settings()
    if not settings.otel_exporter_otlp_endpoint:
        return False
    with _lock:
        if _provider is not None:
            return True
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from shopflow.trace_sampling import sampler

        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        provider = TracerProvider(
            resource=Resource.create(
                {"service.name": settings.otel_service_name, "shopflow.role": role}
            ),
            sampler=sampler(settings.trace_sample_ratio),
        )
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        trace.set_tracer_provider(provider)
        # its declared range ends below SQLAlchemy 2.1; the engine events it uses are unchanged
        SQLAlchemyInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
        RedisInstrumentor().instrument(tracer_provider=provider)
        _provider = provider
        log.info("tracing to %s (sampling %.0f%%)", endpoint, settings.trace_sample_ratio * 100)
        return True


def shutdown() -> None:
    """Export what is buffered (bounded by the exporter's own timeout)."""
    if _provider is not None:
        _provider.shutdown()  # type: ignore[attr-defined]  # an SDK TracerProvider


def traceparent() -> bytes | None:
    """The current span's W3C traceparent, for a message header (None when not recording)."""
    if not trace.get_current_span().is_recording():
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    value = carrier.get(TRACEPARENT)
    return value.encode() if value else None


def links(headers: Iterable[Any], most: int = 16) -> list[trace.Link]:
    """Links to the traces that produced a batch's messages (distinct, at most ``most``);
    ``headers``: each message's header list (or None)."""
    seen: dict[bytes, trace.Link] = {}
    for message_headers in headers:
        for name, value in message_headers or ():
            if name == TRACEPARENT and value not in seen and len(seen) < most:
                context = propagate.extract({TRACEPARENT: value.decode()}, context=Context())
                span_context = trace.get_current_span(context).get_span_context()
                if span_context.is_valid:
                    seen[value] = trace.Link(span_context)
    return list(seen.values())
