"""The Dagster instance home: $SHOPFLOW_HOME/dagster with the repo's dagster.yaml in it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from shopflow.config import Settings, get_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
DAGSTER_YAML = REPO_ROOT / "dagster.yaml"

#: Environment every Dagster or dbt process of Shopflow runs with (no tracking calls).
QUIET_ENV = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DAGSTER_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
}


def prepare_dagster_home(settings: Settings | None = None) -> Path:
    """Create DAGSTER_HOME under the data dir with the repo's dagster.yaml; return its path."""
    settings = settings or get_settings()
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != DAGSTER_YAML.read_bytes():
        tmp = home / ".dagster.yaml.tmp"
        shutil.copyfile(DAGSTER_YAML, tmp)
        os.replace(tmp, target)
    return home


def dagster_env(settings: Settings | None = None) -> dict[str, str]:
    """Environment for a Dagster subprocess (``dagster dev``, the webserver) on this data dir."""
    settings = settings or get_settings()
    return {
        **os.environ,
        **QUIET_ENV,
        "SHOPFLOW_HOME": str(settings.home_dir),
        "DAGSTER_HOME": str(prepare_dagster_home(settings)),
        "SHOPFLOW_WAREHOUSE_PATH": str(settings.warehouse_path),
    }
