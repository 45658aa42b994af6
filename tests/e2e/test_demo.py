"""``shopflow demo --once`` (what ``make demo ARGS=--once`` runs) on a fresh home: generate,
materialize, seed the catalog, serve, check recommendations over HTTP, stop everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopflow import embedded
from shopflow.config import Settings

from .conftest import run_cli

pytestmark = pytest.mark.e2e


def test_demo_once_builds_a_fresh_shop_and_leaves_nothing_running(
    home_env: dict[str, str],
) -> None:
    port = embedded.free_port()
    args = ["demo", "--once", "--users", "300", "--days", "14", "--api-port", str(port)]
    out = run_cli(args, home_env, timeout=900)

    assert "generate" in out and "products in the OLTP catalog" in out
    assert " got 10 items from " in out  # over HTTP with the secret key the demo created
    assert "ok a link-spam review is FLAGGED (spam score " in out  # posted, judged, read back
    assert "secret sk_test_" in out and "publishable pk_test_" in out
    home = Settings(home=Path(home_env["SHOPFLOW_HOME"]))
    assert not any(embedded.status(home).values())  # the services it started are stopped
    assert not embedded._port_open(port)
