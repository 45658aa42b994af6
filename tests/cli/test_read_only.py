"""``shopflow --version`` and the read-only commands: they answer on a fresh data dir and
start nothing (no embedded service, no process left behind)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from shopflow import embedded
from shopflow.config import Settings
from tests.processes import processes_using

SHOPFLOW = str(Path(sys.executable).with_name("shopflow"))
READ_ONLY = (
    ["stream", "status"],
    ["services", "status"],
    ["events", "types"],
    ["mail", "list"],
)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS")}
    return {**env, "SHOPFLOW_HOME": str(home)}


def test_version() -> None:
    done = subprocess.run([SHOPFLOW, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"shopflow {version('shopflow')}"


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_read_only_commands_start_nothing(tmp_path: Path, args: list[str]) -> None:
    home = tmp_path / "home"
    done = subprocess.run(
        [SHOPFLOW, *args], env=_env(home), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert not any(embedded.status(Settings(home=home)).values())
    assert not list((home / "run").glob("*.json")) if (home / "run").exists() else True
    assert processes_using(home) == []
