"""The dashboards' data layer: money in major units, counts as ints, retention without NaN,
the live panel's verdict on the stream consumer (real Redis), and the experiments note."""

from __future__ import annotations

import subprocess
import time

import pandas as pd
import redis

from cli.commands.dashboard import marimo_env
from notebooks import dashboard_data
from shopflow.config import Settings
from shopflow.online_store import keys
from tests.warehouse.analytics_data import REPO


def test_money_is_shown_in_major_units_with_its_currency():
    assert dashboard_data.fmt_money(123456, "USD") == "1,234.56 USD"
    assert dashboard_data.fmt_money(None, "USD") == "-"
    frame = pd.DataFrame({"day": ["d1"], "gross_minor": [3500], "net_minor": [3100]})
    major = dashboard_data.to_major(frame, "EUR")
    assert list(major.columns) == ["day", "gross (EUR)", "net (EUR)"]
    assert major.iloc[0].tolist() == ["d1", 35.0, 31.0]


def test_counts_are_ints():
    frame = pd.DataFrame({"views": [3.0, None], "title": ["a", "b"]})
    assert dashboard_data.as_ints(frame, ["views", "absent"])["views"].tolist() == [3, 0]
    assert str(dashboard_data.as_ints(frame, ["views"])["views"].dtype) == "int64"


def test_retention_has_zero_for_a_quiet_week_and_blank_for_a_week_not_reached():
    long = pd.DataFrame(
        {
            "cohort_week": pd.to_datetime(["2024-03-04", "2024-03-04", "2024-03-11"]),
            "cohort_users": [4, 4, 2],
            "week_number": [0, 2, 0],
            "retention_rate": [1.0, 0.25, 1.0],
        }
    )
    table = dashboard_data.retention_table(long)
    assert table.to_dict("records") == [
        {"cohort_week": "2024-03-04", "cohort_users": 4, "week 0": "100.0%", "week 1": "0.0%",
         "week 2": "25.0%"},
        {"cohort_week": "2024-03-11", "cohort_users": 2, "week 0": "100.0%", "week 1": "0.0%",
         "week 2": ""},
    ]  # fmt: skip
    assert not table.isna().any().any()


def test_retention_of_the_built_shop(dashboard_home):
    snap = dashboard_data.refresh_snapshot(dashboard_home)
    table = dashboard_data.retention_table(
        snap.query("SELECT * FROM mart_cohort_retention_weekly ORDER BY cohort_week")
    )
    assert table.to_dict("records") == [
        {"cohort_week": "2024-03-04", "cohort_users": 4, "week 0": "100.0%", "week 1": "25.0%"}
    ]


def test_live_panel_tells_whether_the_stream_consumer_runs(redis_server, tmp_path):
    settings = Settings(home=tmp_path, redis_url=redis_server)
    client = redis.Redis.from_url(redis_server)
    minute = int(time.time() // 60)
    client.delete(keys.live_metric(minute, "orders"), keys.live_metric(minute - 1, "orders"))
    quiet = dashboard_data.live_metrics(settings)
    running, note = dashboard_data.live_status(quiet)
    assert not running and "stream consumer is not running" in note
    assert "shopflow stream features" in note
    client.set(keys.live_metric(minute, "orders"), 2)  # what the features consumer writes
    try:
        live = dashboard_data.live_metrics(settings)
        assert live["orders"].iloc[-1] == 2
        assert dashboard_data.live_status(live) == (
            True,
            "The stream consumer is running: live metrics are arriving.",
        )
    finally:
        client.delete(keys.live_metric(minute, "orders"))
    no_redis = dashboard_data.live_metrics(Settings(home=tmp_path / "none"))
    assert no_redis.empty  # nothing configured and nothing running: no server is started
    assert "Redis is not running" in dashboard_data.live_status(no_redis)[1]


def test_experiments_note_tells_none_configured_from_an_invalid_file(tmp_path):
    none = tmp_path / "none.yaml"
    none.write_text("experiments: []\n")
    experiments, note = dashboard_data.configured_experiments(
        Settings(home=tmp_path, experiments_file=none)
    )
    assert experiments == [] and note.startswith("**No experiment configured.**")
    assert "shopflow experiments validate" in note and str(none) in note
    broken = tmp_path / "broken.yaml"
    broken.write_text("experiments: [{key: x}]\n")
    experiments, note = dashboard_data.configured_experiments(
        Settings(home=tmp_path, experiments_file=broken)
    )
    assert experiments == [] and "is not valid" in note
    shipped, note = dashboard_data.configured_experiments(
        Settings(home=tmp_path, experiments_file=REPO / "experiments.yaml")
    )
    assert note == "" and "recs-strategy" in {e.key for e in shipped}


def test_empty_states_name_the_command_to_run():
    text = dashboard_data.empty_state("revenue", dashboard_data.RUN_PIPELINE)
    assert text.startswith("_No revenue yet._") and "shopflow materialize" in text


def test_dashboards_write_their_session_cache_under_the_data_dir(tmp_path):
    env = marimo_env(tmp_path)
    assert env["PYTHONPYCACHEPREFIX"] == str(tmp_path.resolve() / "dashboard" / "cache")
    tracked = subprocess.run(
        ["git", "ls-files", "notebooks/__marimo__"], cwd=REPO, capture_output=True, text=True
    )
    assert tracked.stdout == ""
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "notebooks/__marimo__/session/analytics_dashboard.py.json"],
        cwd=REPO,
    )
    assert ignored.returncode == 0
