"""``/metrics`` under ``shopflow serve --workers 2``: whichever worker answers, it reports the
requests of both (prometheus-client multiprocess mode in a fresh dir under the data dir)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector

from commerce.auth import Role, mint_token
from shopflow import embedded
from shopflow.config import Settings
from tests.serve_process import serving, stop, wait_healthy

HEALTH = re.compile(
    r'^shopflow_http_requests_total\{method="GET",route="/health",status="200"\} (\S+)$', re.M
)


def _health_count(db_file: Path) -> float:
    """GET /health requests counted in one worker's file."""
    for metric in MultiProcessCollector.merge([str(db_file)]):
        for sample in metric.samples:
            labels = sample.labels
            if sample.name.endswith("_total") and labels.get("route") == "/health":
                return sample.value
    return 0.0


def test_metrics_sum_every_worker(shopflow_home: Settings, redis_server: str) -> None:
    port = embedded.free_port()
    env = {"REDIS_URL": redis_server, "PROMETHEUS_MULTIPROC_DIR": None}
    base = f"http://127.0.0.1:{port}"
    with serving(shopflow_home, "--workers", "2", "--port", str(port), env=env) as proc:
        wait_healthy(proc, f"{base}/health")
        (metrics_dir,) = shopflow_home.run_dir.glob("prometheus-*")
        served: list[float] = []
        sent = 1  # the readiness probe above
        deadline = time.monotonic() + 120
        while len(served) < 2 and time.monotonic() < deadline:  # until both workers served
            for _ in range(10):  # a new connection each: the kernel spreads them
                assert httpx.get(f"{base}/health", timeout=10).status_code == 200
            sent += 10
            served = [n for f in metrics_dir.glob("counter_*.db") if (n := _health_count(f))]
        assert len(served) == 2, "both workers should have served requests"
        assert sum(served) == sent

        for _ in range(6):  # any worker answers with the total
            bearer = {"Authorization": f"Bearer {mint_token('scraper', [Role.service])}"}
            text = httpx.get(f"{base}/metrics", headers=bearer, timeout=10).text
            assert [float(v) for v in HEALTH.findall(text)] == [sent]
        out = stop(proc)
    assert proc.returncode == 0, out
    assert not metrics_dir.exists()  # removed once the server stopped
