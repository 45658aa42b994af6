"""End to end at small scale, through the CLI a user runs: generate, materialize, serve, then
ask for recommendations over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from shopflow import embedded

from .conftest import BIN, run_cli

pytestmark = pytest.mark.e2e


def test_generate_materialize_serve_recommend(home_env: dict[str, str]) -> None:
    generate = ["generate", "--users", "400", "--days", "21", "--seed", "3", "--no-progress"]
    run_cli(generate, home_env)
    run_cli(["materialize"], home_env)

    warehouse = Path(home_env["SHOPFLOW_HOME"]) / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        catalog = {r[0] for r in con.execute("select item_id from dim_items").fetchall()}
        user_id = con.execute(
            "select user_id from fct_interactions group by 1 order by count(*) desc limit 1"
        ).fetchone()[0]
        bought = {
            r[0]
            for r in con.execute(
                "select item_id from fct_interactions where user_id = ? and purchases > 0",
                [user_id],
            ).fetchall()
        }
    assert catalog

    key = run_cli(["keys", "create", "--kind", "secret", "--name", "spine"], home_env).strip()
    assert key.startswith("sk_test_")
    bearer = {"Authorization": f"Bearer {key}"}
    port = embedded.free_port()
    server = subprocess.Popen(
        [str(BIN / "shopflow"), "serve", "--port", str(port)],
        env=home_env, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stdout.read().decode()
            assert time.monotonic() < deadline, "API did not start"
            time.sleep(0.3)

        url = f"{base}/recommendations/{user_id}"
        assert httpx.get(url).status_code == 401
        body = httpx.get(url, params={"limit": 20}, headers=bearer).json()
        items = [item["item_id"] for item in body["items"]]
        assert items, body
        assert set(items) <= catalog
        assert not set(items) & bought
        assert body["model"] and body["model_version"]

        similar = httpx.get(f"{base}/items/{items[0]}/similar", params={"limit": 5})
        assert similar.status_code == 200 and similar.json()["items"]
        assert httpx.get(f"{base}/items/no-such-item/similar").status_code == 404
        assert httpx.get(url, params={"limit": 0}, headers=bearer).status_code == 422
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
