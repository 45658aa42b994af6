"""``shopflow materialize`` output: one line per asset with its time and key metadata, a
summary, the full Dagster and dbt log in a file whose path it prints; no ANSI escape codes
when stdout is not a terminal; ``--verbose`` prints the full log too."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shopflow.config import Settings
from shopflow.generate import generate_shop

pytestmark = pytest.mark.e2e
SHOPFLOW = str(Path(sys.executable).with_name("shopflow"))
ASSET_LINE = re.compile(r"^ok\s+(\S+)\s+(\d+\.\d)s\b(.*)$")


def _materialize(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOPFLOW_HOME": str(home)}
    for name in ("REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    return subprocess.run(
        [SHOPFLOW, "materialize", *args], env=env, capture_output=True, text=True, timeout=900
    )


def test_one_line_per_asset_a_summary_and_the_log_in_a_file(shopflow_home: Settings) -> None:
    generate_shop(120, 8, 5, settings=shopflow_home, progress=False)
    done = _materialize(shopflow_home.home_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "\x1b[" not in out + done.stderr  # piped: no colour codes
    lines = out.splitlines()
    assets = {m.group(1): m.group(3) for line in lines if (m := ASSET_LINE.match(line))}
    assert "rows" in assets["raw_events"] and "quarantined 0" in assets["raw_events"]
    assert "new " in assets["oltp_catalog"]
    assert "NDCG@" in assets["recommender_evaluation"]
    assert re.search(r"champion (moved to|stays) ", assets["recommender_evaluation"])
    summary = next(line for line in lines if line.startswith("materialized "))
    assert f"materialized {len(assets)} assets" in summary and "checks:" in summary
    assert len(lines) <= len(assets) + 10  # nothing else: dbt's nodes went to the log
    log = Path(lines[-1].removeprefix("full log: "))
    assert log.parent == shopflow_home.home_dir / "logs" and log.exists()
    text = log.read_text()
    assert "STEP_SUCCESS" in text and " of " in text and "START sql" in text  # Dagster and dbt
    assert "\x1b[" not in text

    again = _materialize(shopflow_home.home_dir, "--verbose", "--select", "key:raw_events")
    assert again.returncode == 0, again.stderr
    assert "STEP_SUCCESS" in again.stdout + again.stderr  # the full log on the console
    assert "\x1b[" not in again.stdout


def test_bad_selection_is_a_clear_error(shopflow_home: Settings) -> None:
    done = _materialize(shopflow_home.home_dir, "--select", "key:no_such_asset")
    assert done.returncode == 2
    assert "error:" in done.stderr and "no_such_asset" in done.stderr
