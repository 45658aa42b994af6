"""The analytics dashboard served by ``marimo run`` renders charts that hold data in headless
Chromium (Debian's package, driven by Playwright)."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request

from playwright.sync_api import sync_playwright

from cli.commands.dashboard import marimo_command
from shopflow.embedded import free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def _wait_http(url: str, proc: subprocess.Popen, tries: int = 600) -> None:
    for _ in range(tries):
        if proc.poll() is not None:
            raise AssertionError(f"marimo exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


def test_dashboard_charts_hold_data_in_chromium(dashboard_home):
    port = free_port()
    env = os.environ | {"SHOPFLOW_HOME": str(dashboard_home.home_dir), "MPLBACKEND": "Agg"}
    server = subprocess.Popen(
        marimo_command("analytics", "127.0.0.1", port),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_http(url, server)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            page.goto(url)
            charts = page.locator("figure.sf-chart")
            charts.first.wait_for(timeout=120_000)
            page.wait_for_function(
                "document.querySelectorAll('figure.sf-chart').length >= 5", timeout=120_000
            )
            figures = charts.evaluate_all(
                """els => els.map(e => ({title: e.dataset.title,
                                        points: Number(e.dataset.points),
                                        marks: e.querySelectorAll('svg path').length}))"""
            )
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    titles = {f["title"] for f in figures}
    assert {"Revenue per day", "Sessions reaching each step", "Top products by views"} <= titles
    for figure in figures:
        assert figure["points"] > 0 and figure["marks"] > 0, figure
