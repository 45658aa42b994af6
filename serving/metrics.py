"""Prometheus metrics of the API: request counts and latency per route template.

``RequestMetrics`` measures every HTTP request as a middleware of the app (``install``),
outside the exception handlers, so the status label is the status sent: a 404 or 405 is
counted as such, never as 500. Labels are route templates (``/recommendations/{user_id}``,
the route routing or a fast lane put in the scope), never raw paths; unmatched paths share
``unmatched``. (A pure ASGI wrapper on prometheus-client: the instrumentator package matched
every route a second time and built a request, a response and an info object per request,
a fifth of a fast endpoint's time.) With
several uvicorn workers, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before the
workers start: prometheus-client then keeps each worker's values in files there and
``/metrics`` sums them (multiprocess mode), so any worker answers for all. ``shopflow serve
--workers N`` does that for you (``multiprocess_dir``). Without it each worker reports only
itself, which is right for one worker. Stream consumers serve their own metrics
(``--metrics-port``): lag, throughput and batch times (``pipelines.streaming.metrics``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prom_multiprocess
from starlette.routing import Router
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.sent_status import SentStatus

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED = "unmatched"

REQUESTS = Counter(
    "shopflow_http_requests",
    "HTTP requests by method, route and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "shopflow_http_request_seconds",
    "HTTP request latency by method and route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _record(method: str, route: str, status: int, seconds: float) -> None:
    """Count and time one request (label children cached: ``labels()`` takes a lock)."""
    key = (method, route, status)
    children = _children.get(key)
    if children is None:
        children = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
        _children[key] = children
    children[0].inc()
    children[1].observe(seconds)


class RequestMetrics:
    """ASGI: each HTTP request counted by method, route template and status sent, and timed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = SentStatus(send)
        start = time.perf_counter()
        try:
            await self.app(scope, receive, sent)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            _record(scope["method"], route, sent.status, time.perf_counter() - start)


def install(app: FastAPI) -> None:
    """Measure every HTTP request of ``app`` (at creation: it adds a middleware)."""
    app.add_middleware(RequestMetrics)


def wrap_inside(router: Router, wrapper: Callable[[ASGIApp], ASGIApp]) -> None:
    """Wrap the router's stack with ``wrapper`` (requests it answers are measured by the
    middleware outside, like any other)."""
    router.middleware_stack = wrapper(router.middleware_stack)  # type: ignore[assignment]  # Starlette infers a coroutine method; any ASGI app fits


def exposition() -> tuple[bytes, str]:
    """The metrics body and its content type (summed over workers in multiprocess mode)."""
    if os.environ.get(MULTIPROC_ENV):
        registry: Any = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST


@contextmanager
def multiprocess_dir(run_dir: Path, workers: int) -> Iterator[Path | None]:
    """Around the start of ``workers`` server processes: for more than one, a fresh
    ``PROMETHEUS_MULTIPROC_DIR`` under ``run_dir`` (set in this process's environment, which
    the workers inherit; removed afterwards). A directory the user set is left as it is."""
    if workers <= 1 or os.environ.get(MULTIPROC_ENV):
        yield None
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="prometheus-", dir=run_dir))
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(path, ignore_errors=True)
