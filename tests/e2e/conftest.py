"""Fixtures and helpers of the end-to-end tests: the CLI in a subprocess, in a fresh home."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopflow import embedded
from shopflow.config import Settings

BIN = Path(sys.executable).parent


def run_cli(args: list[str], env: dict[str, str], timeout: int = 600) -> str:
    done = subprocess.run(
        [str(BIN / "shopflow"), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"shopflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def home_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "MLFLOW_TRACKING_URI")
    }
    env["SHOPFLOW_HOME"] = str(tmp_path / "home")
    yield env
    embedded.stop_all(Settings(home=tmp_path / "home"))
