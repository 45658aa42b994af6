"""Trace sampling ahead of the instrumentation: a request that is not sampled skips
OpenTelemetry's ASGI middleware altogether (its attributes, context and span objects cost more
than a fast endpoint's work), and its Redis and database spans are dropped at the sampler.

A request that carries a W3C ``traceparent`` goes through the middleware as before, so the
caller's decision holds (``ParentBased``). Any other request is drawn here at
``SHOPFLOW_TRACE_SAMPLE_RATIO``; the server span, when drawn, takes that decision
(``shopflow.trace_sampling``)."""

from __future__ import annotations

import random
import types
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from shopflow import trace_sampling


class SampledAhead:
    """ASGI: ``traced`` (OpenTelemetry's middleware) for a sampled request, the stack beneath
    it for the others."""

    def __init__(self, traced: Any, ratio: float) -> None:
        # ``app``: FastAPI finds the instrumentation by walking ``.app`` down the stack, and
        # leaves its own native telemetry off when it does
        self.app: ASGIApp = traced
        self.plain: ASGIApp = traced.app
        self.ratio = ratio

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _has_traceparent(scope):
            await self.app(scope, receive, send)
            return
        sampled = random.random() < self.ratio  # noqa: S311  (a sampling draw, not a secret)
        token = trace_sampling.decide(sampled)
        try:
            await (self.app if sampled else self.plain)(scope, receive, send)
        finally:
            trace_sampling.undecide(token)


def _has_traceparent(scope: Scope) -> bool:
    return any(name == b"traceparent" for name, _ in scope["headers"])


def install(app: FastAPI, ratio: float) -> None:
    """Put ``SampledAhead`` around the stack ``FastAPIInstrumentor.instrument_app`` builds
    (call right after it). Left as it is when the instrumentation did not wrap the stack."""
    instrumented = app.build_middleware_stack

    def build(self: FastAPI) -> ASGIApp:
        stack = instrumented()
        return SampledAhead(stack, ratio) if hasattr(stack, "app") else stack

    app.build_middleware_stack = types.MethodType(build, app)  # type: ignore[method-assign]
