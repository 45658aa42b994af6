"""Prometheus metrics of the API: request counts and latency per route template.

The router is wrapped once at start-up (``instrument``); labels are route templates
(``/recommendations/{user_id}``), never raw paths. With several uvicorn workers, set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before the workers start: prometheus-client
then keeps each worker's values in files there and ``/metrics`` sums them (multiprocess
mode), so any worker answers for all. ``shopflow serve --workers N`` does that for you
(``multiprocess_dir``). Without it each worker reports only itself, which is right for one
worker. Stream consumers serve their own metrics (``--metrics-port``).
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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

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


class _Timed:
    """ASGI wrapper of the router: counts and times every HTTP request by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")  # set by the router on a match
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            children = self._children.get((method, template, status))
            if children is None:  # labels() takes a lock and builds a key: once per label set
                children = (
                    REQUESTS.labels(method, template, str(status)),
                    LATENCY.labels(method, template),
                )
                self._children[(method, template, status)] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - start)


def instrument(router: Router) -> None:
    """Wrap the router's stack once (idempotent); routing has run when the wrapper records."""
    if not isinstance(router.middleware_stack, _Timed):
        router.middleware_stack = _Timed(router.middleware_stack)


def wrap_inside(router: Router, wrapper: Callable[[ASGIApp], ASGIApp]) -> None:
    """Wrap the router's stack with ``wrapper`` inside the metrics wrapper (whichever start-up
    hook runs first), so requests ``wrapper`` answers itself are still counted."""
    stack = router.middleware_stack
    if isinstance(stack, _Timed):
        stack.app = wrapper(stack.app)
    else:
        router.middleware_stack = wrapper(stack)  # type: ignore[assignment]  # Starlette infers a coroutine method; any ASGI app fits


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
