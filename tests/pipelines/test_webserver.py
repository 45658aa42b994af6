"""The code location loads in a real Dagster webserver and exposes the asset graph over GraphQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pipelines.instance import dagster_env
from shopflow.config import Settings
from shopflow.embedded import free_port

pytestmark = pytest.mark.integration

LOCATION_QUERY = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message }
          ... on RepositoryLocation {
            repositories {
              name
              assetNodes { assetKey { path } }
              schedules { name }
              sensors { name }
            }
          }
        }
      }
    }
  }
}
"""


def wait_for_location(url: str, proc: subprocess.Popen, deadline: float) -> dict:
    while time.monotonic() < deadline:
        assert proc.poll() is None, "dagster-webserver exited early"
        try:
            response = httpx.post(f"{url}/graphql", json={"query": LOCATION_QUERY}, timeout=10)
            entries = response.json()["data"]["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return entries[0]
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(1)
    raise AssertionError("the code location did not load in time")


def test_webserver_loads_the_location_without_errors(tmp_path: Path):
    settings = Settings(home=tmp_path / "home")
    settings.ensure_dirs()
    port = free_port()
    log = (tmp_path / "webserver.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dagster_webserver",
            "-m",
            "pipelines.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=dagster_env(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        entry = wait_for_location(f"http://127.0.0.1:{port}", proc, time.monotonic() + 240)
        location = entry["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", location
        (repo,) = location["repositories"]
        keys = {"/".join(node["assetKey"]["path"]) for node in repo["assetNodes"]}
        assert {"raw_events", "dim_items", "dim_users", "fct_interactions"} <= keys
        assert {"daily_all_assets"} <= {s["name"] for s in repo["schedules"]}
        assert {"new_landing_partitions"} <= {s["name"] for s in repo["sensors"]}
        assert (settings.dagster_home / "dagster.yaml").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
