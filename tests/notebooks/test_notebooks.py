"""Every notebook runs headless as a script; dashboards never need the warehouse lock."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from notebooks import dashboard_data
from tests.warehouse.analytics_data import REPO

NOTEBOOKS = sorted(
    p for p in (REPO / "notebooks").glob("*.py") if "marimo.App(" in p.read_text(encoding="utf-8")
)


def _env(home) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "MLFLOW_TRACKING_URI")}
    return env | {"SHOPFLOW_HOME": str(home), "MPLBACKEND": "Agg"}


@pytest.fixture(scope="module")
def runs(dashboard_home, tmp_path_factory: pytest.TempPathFactory):
    """Every notebook run as a script, all at once (independent runs, mostly import time):
    name -> (process, stderr file). ``empty`` is the analytics dashboard on an empty home."""
    logs = tmp_path_factory.mktemp("notebook-runs")
    jobs = [(nb.stem, nb, dashboard_home.home_dir) for nb in NOTEBOOKS]
    jobs.append(("empty", REPO / "notebooks" / "analytics_dashboard.py", logs / "empty-home"))
    started = {}
    for name, notebook, home in jobs:
        with open(logs / f"{name}.err", "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, str(notebook)],
                env=_env(home),
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        started[name] = (proc, logs / f"{name}.err")
    yield started
    for proc, _ in started.values():
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _finished(runs, name: str) -> tuple[int, str]:
    proc, err = runs[name]
    return proc.wait(timeout=240), err.read_text(errors="replace")[-4000:]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_as_a_script(notebook, runs):
    code, stderr = _finished(runs, notebook.stem)
    assert code == 0, stderr


def test_notebook_runs_on_an_empty_home(runs):
    code, stderr = _finished(runs, "empty")
    assert code == 0, stderr


def test_snapshot_holds_the_marts_and_charts_hold_data(dashboard_home):
    snap = dashboard_data.refresh_snapshot(dashboard_home)
    assert snap.fresh
    revenue = snap.query("SELECT sum(net_minor) AS net FROM mart_revenue_daily")
    assert revenue["net"].iloc[0] == 3100
    html = dashboard_data.chart(
        snap.query("SELECT event_date, net_minor FROM mart_revenue_daily"),
        "event_date",
        ["net_minor"],
    )
    assert 'data-points="3"' in html and "<svg" in html
    assert 'data-points="0"' in dashboard_data.chart(snap.query("SELECT 1 WHERE false"), "x", ["y"])


def test_busy_warehouse_retries_then_shows_the_last_snapshot(dashboard_home, tmp_path):
    dashboard_data.refresh_snapshot(dashboard_home)
    holder = subprocess.Popen(  # another process writing: it holds the DuckDB file lock
        [sys.executable, "-c",
         "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('locked', flush=True);"
         "time.sleep(60)", str(dashboard_home.warehouse_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        messages: list[str] = []
        snap = dashboard_data.refresh_snapshot(
            dashboard_home, retries=2, delay_s=0.1, log=messages.append
        )
    finally:
        holder.terminate()
        holder.wait()
    assert messages == ["warehouse busy, retrying (1/2)", "warehouse busy, retrying (2/2)"]
    assert not snap.fresh and "showing the snapshot" in snap.message
    assert not snap.query("SELECT * FROM mart_funnel_daily").empty
    # the warehouse itself is untouched and writable again
    assert dashboard_data.refresh_snapshot(dashboard_home).fresh
