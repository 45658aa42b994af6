"""The shared load generator against a real uvicorn server: both tools count requests and
errors the same way."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.loadgen import Target, combine, compare, run_load, wait_ready
from shopflow.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    app = "benchmarks.loadgen:baseline_app"
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", app, "--factory", "--port", str(port),
         "--no-access-log", "--log-level", "warning"],
        cwd=ROOT,
    )  # fmt: skip
    try:
        wait_ready(f"http://127.0.0.1:{port}/constant")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.mark.parametrize("use_wrk", [False, True], ids=["python", "wrk-or-python"])
def test_counts_requests_and_non_2xx_as_errors(server: str, use_wrk: bool) -> None:
    ok = run_load(server, ["/constant"], duration_s=1, connections=4, use_wrk=use_wrk)
    assert ok.requests > 0 and ok.errors == 0 and ok.p50_ms <= ok.p99_ms
    missing = run_load(server, ["/nope"], duration_s=1, connections=4, use_wrk=use_wrk)
    assert missing.requests > 0 and missing.errors == missing.requests
    both = combine([ok, missing])
    assert both.requests == ok.requests + missing.requests and both.errors == missing.errors


def test_rejects_paths_it_cannot_send() -> None:
    with pytest.raises(ValueError, match="URL-encoded"):
        run_load("http://127.0.0.1:9", ["/has space"], duration_s=1)
    with pytest.raises(ValueError, match="at least one"):
        run_load("http://127.0.0.1:9", [], duration_s=1)


def test_compare_prints_every_target_and_its_ratio_to_the_first(server: str, capsys) -> None:
    here = os.getpid()  # any live process will do for the CPU column
    targets = [Target("base", server, here, ["/constant"]), Target("gone", server, here, ["/x"])]
    compare(targets, rounds=2, round_s=0.5, warmup_s=0.2, connections=2)
    out = capsys.readouterr().out
    assert out.startswith("base ") and "server CPU" in out
    assert "WARNING: " in out and " errors during gone" in out
    assert "ratio gone / base: " in out and "(rounds " in out


def test_server_cpu_counts_the_workers_a_server_forked() -> None:
    """uvicorn --workers N serves from child processes: their CPU is the server's."""
    from benchmarks.loadgen import process_cpu_s

    burn = (
        "import time, sys\n"
        "while time.process_time() < 0.5: pass\n"  # 0.5 s of CPU, however long it takes
        "print('burnt', flush=True); time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c",
         f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {burn!r}]); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "burnt"  # the child's line, inherited
        used = process_cpu_s(parent.pid)
        assert used is not None and used >= 0.4  # /proc counts in clock ticks
    finally:
        subprocess.run(["pkill", "-P", str(parent.pid)], check=False)
        parent.kill()
        parent.wait()
