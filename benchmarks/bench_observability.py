"""What request logging and tracing cost on the hot path: ``GET /recommendations/{user}`` (the
fast lane) of the real app with both off, with one JSON log line per request, and with the
log line plus OpenTelemetry traces sampled at 10 % and exported over OTLP/HTTP to a local
receiver that discards them. Same Redis, same load (wrk from another process, interleaved
rounds); targets: logging costs under 10 % of throughput, logging plus tracing under 20 %.
Each server's log goes to /dev/null (formatted and written, as in production).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from benchmarks.bench_recommendations import (
    CONNECTIONS,
    WARMUP_S,
    _recommendation_paths,
    publish_synthetic,
)
from benchmarks.loadgen import (
    ROOT,
    UVICORN_FLAGS,
    Target,
    bearer,
    compare,
    redis_home,
    rounds_header,
    wait_ready,
)

ROUNDS, ROUND_S = 6, 3
TARGETS = {"logging": 0.10, "logging + tracing 10 %": 0.20}


@contextmanager
def otlp_sink() -> Iterator[str]:
    """An OTLP/HTTP endpoint that answers 200 to every export and keeps nothing."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def server(env: dict[str, str], ready_path: str, headers: dict[str, str]) -> Iterator[Target]:
    from shopflow import embedded

    port = embedded.free_port()
    argv = [sys.executable, "-m", "uvicorn", "serving.app:create_app", "--factory"]
    proc = subprocess.Popen(
        [*argv, "--port", str(port), *UVICORN_FLAGS],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base + ready_path, headers=headers)
        yield Target("", base, proc.pid, [])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    paths = _recommendation_paths()
    auth = bearer()
    with redis_home("bench-obs-", publish_synthetic) as env, otlp_sink() as endpoint:
        configs = {
            "logging and tracing off": {"SHOPFLOW_REQUEST_LOG": "false"},
            "logging": {"SHOPFLOW_REQUEST_LOG": "true", "SHOPFLOW_LOG_FORMAT": "json"},
            "logging + tracing 10 %": {
                "SHOPFLOW_REQUEST_LOG": "true",
                "SHOPFLOW_LOG_FORMAT": "json",
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                "SHOPFLOW_TRACE_SAMPLE_RATIO": "0.1",
            },
        }
        print(rounds_header(CONNECTIONS, ROUNDS, ROUND_S))
        with (
            server({**env, **configs["logging and tracing off"]}, paths[0], auth) as off,
            server({**env, **configs["logging"]}, paths[0], auth) as logged,
            server({**env, **configs["logging + tracing 10 %"]}, paths[0], auth) as traced,
        ):
            targets = [
                Target(label, t.url, t.pid, paths, auth)
                for label, t in zip(configs, (off, logged, traced), strict=True)
            ]
            ratios = compare(
                targets, rounds=ROUNDS, round_s=ROUND_S, warmup_s=WARMUP_S,
                connections=CONNECTIONS,
            )  # fmt: skip
        for (label, most), ratio in zip(TARGETS.items(), ratios, strict=True):
            slower = 1 - ratio
            verdict = "within" if slower < most else "over"
            print(f"{label}: {slower:+.1%} slower than off ({verdict} the {most:.0%} target)")


if __name__ == "__main__":
    main()
