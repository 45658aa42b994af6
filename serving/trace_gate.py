"""Trace sampling ahead of the instrumentation: a request that is not sampled skips
OpenTelemetry's ASGI middleware altogether (its route scan, attributes, context and span
objects cost more than a fast endpoint's work), and its Redis and database calls run with the
client instrumentations suppressed; any span it still starts is dropped at the sampler.

A request that carries a W3C ``traceparent`` goes through the middleware as before, so the
caller's decision holds (``ParentBased``). Any other request is drawn here at
``SHOPFLOW_TRACE_SAMPLE_RATIO``; the server span, when drawn, takes that decision
(``shopflow.trace_sampling``)."""

from __future__ import annotations

import random
import types
from typing import Any

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopflow import trace_sampling


class SampledAhead:
    """ASGI: the instrumented stack for a sampled request; for the others the stack beneath
    OpenTelemetry's middleware, with the client instrumentations (Redis, SQLAlchemy)
    suppressed, so an untraced request pays for no span at all."""

    def __init__(self, traced: Any, ratio: float) -> None:
        # ``app``: FastAPI finds the instrumentation by walking ``.app`` down the stack
        self.app: ASGIApp = traced
        instrumentation = _instrumentation(traced)
        self.plain: ASGIApp = instrumentation.app
        # the route names the span once routing (or a fast lane) has found it, instead of
        # the instrumentation matching every route again before the request starts
        instrumentation.default_span_details = _span_details_before_routing
        instrumentation.app = NameSpanByRoute(self.plain)
        self.ratio = ratio

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _has_traceparent(scope):
            await self.app(scope, receive, send)
            return
        sampled = random.random() < self.ratio  # noqa: S311  (a sampling draw, not a secret)
        token = trace_sampling.decide(sampled)
        try:
            if sampled:
                await self.app(scope, receive, send)
            else:
                with suppress_instrumentation():
                    await self.plain(scope, receive, send)
        finally:
            trace_sampling.undecide(token)


def _instrumentation(stack: Any) -> OpenTelemetryMiddleware:
    """OpenTelemetry's ASGI middleware in the stack (found by walking ``.app``)."""
    layer = stack
    while layer is not None:
        if isinstance(layer, OpenTelemetryMiddleware):
            return layer
        layer = getattr(layer, "app", None)
    raise ValueError("no OpenTelemetry middleware in the stack")


def _span_details_before_routing(scope: Scope) -> tuple[str, dict[str, str]]:
    """The span's first name: the method (``NameSpanByRoute`` adds the route)."""
    return scope.get("method") or scope["type"], {}


class NameSpanByRoute:
    """ASGI, inside the instrumentation: as the response starts, the route routing (or a fast
    lane) put in the scope names the server span (``GET /recommendations/{user_id}``,
    ``http.route``), as OpenTelemetry's FastAPI instrumentation names it. (The span ends with
    the last body message, so this happens on the way out, not after the app returns.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server_span = trace.get_current_span()  # the instrumentation's, current here

        async def send_naming(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                _name_by_route(server_span, scope)
            await send(message)

        await self.app(scope, receive, send_naming)


def _name_by_route(span: trace.Span, scope: Scope) -> None:
    path = getattr(scope.get("route"), "path", None)
    if path and span.is_recording():
        span.set_attribute(HTTP_ROUTE, path)
        method = scope.get("method")
        span.update_name(f"{method} {path}" if method else path)


def _has_traceparent(scope: Scope) -> bool:
    return any(name == b"traceparent" for name, _ in scope["headers"])


def install(app: FastAPI, ratio: float) -> None:
    """Put ``SampledAhead`` around the stack ``FastAPIInstrumentor.instrument_app`` builds
    (call right after it). Left as it is when the instrumentation did not wrap the stack."""
    instrumented = app.build_middleware_stack

    def build(self: FastAPI) -> ASGIApp:
        stack = instrumented()
        try:
            return SampledAhead(stack, ratio)
        except ValueError:  # the instrumentation left the stack as it was
            return stack

    app.build_middleware_stack = types.MethodType(build, app)  # type: ignore[method-assign]
