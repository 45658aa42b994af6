"""Each dashboard served by ``marimo run`` (as ``shopflow dashboard`` serves it), read in headless
Chromium (Debian's package, driven by Playwright) with data and with none: what a person sees,
checked on the page's visible text, with a full-page screenshot in ``/tmp/dash-shots/``."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from cli.commands.dashboard import marimo_command, marimo_env
from shopflow.embedded import free_port
from tests.conftest import SERVICE_ENV
from tests.warehouse.analytics_data import REPO

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SHOTS = Path("/tmp/dash-shots")

#: (dashboard, state) -> texts the page must show once every cell has run.
EXPECTED = {
    ("analytics", "data"): [
        "Gross 35.00 USD", "net 31.00 USD", "from 3 orders", "gross (USD)", "net (USD)",
        "Item i1", "week 0", "100.0%", "stream consumer is not running",
        "shopflow stream features",
    ],
    ("analytics", "empty"): [
        "No analytics data yet", "shopflow generate", "shopflow materialize",
        "No revenue yet", "No sessions yet", "No cohorts yet", "No product views yet",
        "Redis is not running",
    ],
    ("models", "data"): [
        "2 training runs, 5 trained models", "shopflow-serving@champion",
        "Models side by side per training run", "Latest training run", "Registered aliases",
        "champion", "ease", "item_item", "popularity", "test ndcg@10",
        "Tuning trials of the latest training run",
    ],
    ("models", "empty"): ["No trained models yet", "shopflow materialize", "No tuning trials"],
    ("experiments", "data"): [
        "recs-strategy-v1", "revenue/user", "USD", "No results yet for recs-strategy",
        "Recommendations per variant", "Results by metric", "one-page-checkout",
        "Verdict: ship one-page", "Verdict: stop: guardrail", "Verdict: keep running",
        "SRM: ok", "sequential 95% CI", "refund_rate (guardrail)", "exposures per arm",
    ],
    ("experiments", "empty"): [
        "No experiment configured", "shopflow experiments validate", "SHOPFLOW_EXPERIMENTS_FILE",
    ],
}  # fmt: skip
#: The page's visible text, shadow roots included (marimo draws tables and callouts there).
DEEP_TEXT = """() => {
  const out = [];
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot);
    for (const child of node.childNodes) {
      if (child.nodeType === Node.TEXT_NODE) out.push(child.textContent);
      else if (!["STYLE", "SCRIPT", "TEMPLATE"].includes(child.nodeName.toUpperCase())) walk(child);
    }
  };
  walk(document.body);
  return out.join(" ").replace(/\\s+/g, " ");
}"""
TALLEST = "Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight))"
#: Texts no page may show: raw NaN, or (for a shop without experiments) "no results yet".
NEVER = {("experiments", "empty"): ["No results yet"]}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def homes(dashboard_home, redis_server, tmp_path_factory) -> dict[str, dict[str, str]]:
    """Environment per state: the built shop (with MLflow runs, and a real Redis that no stream
    consumer feeds), and an empty data dir with an experiments file that lists none."""
    empty = tmp_path_factory.mktemp("empty-dashboards")
    no_experiments = empty / "experiments.yaml"
    no_experiments.write_text("experiments: []\n")
    base = {k: v for k, v in os.environ.items() if k not in (*SERVICE_ENV, "MLFLOW_REGISTRY_URI")}
    base |= {"MPLBACKEND": "Agg"}
    return {
        "data": base | {"SHOPFLOW_HOME": str(dashboard_home.home_dir), "REDIS_URL": redis_server},
        "empty": base
        | {"SHOPFLOW_HOME": str(empty / "home"), "SHOPFLOW_EXPERIMENTS_FILE": str(no_experiments)},
    }


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


def _read_dashboard(browser: Browser, name: str, env: dict[str, str], shot: Path, expected):
    """Serve ``name``, wait until the page shows ``expected``, screenshot it; returns the page's
    visible text and its charts."""
    port = free_port()
    server = subprocess.Popen(
        marimo_command(name, "127.0.0.1", port),
        env=marimo_env(Path(env["SHOPFLOW_HOME"])) | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_http(url, server)
        page.goto(url)
        with contextlib.suppress(PlaywrightTimeout):  # the asserts below say what is missing
            page.wait_for_function(
                f"texts => texts.every(t => ({DEEP_TEXT})().includes(t))",
                arg=expected,
                timeout=120_000,
            )
        page.wait_for_timeout(500)  # let the last chart paint before the screenshot
        tall = page.evaluate(TALLEST)  # marimo scrolls inside the page: show all of it
        page.set_viewport_size({"width": 1280, "height": min(max(tall + 80, 900), 12_000)})
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        text = page.evaluate(DEEP_TEXT)
        figures = page.locator("figure.sf-chart").evaluate_all(
            """els => els.map(e => ({title: e.dataset.title, points: Number(e.dataset.points),
                                 marks: e.querySelectorAll('svg path').length}))"""
        )
    finally:
        page.close()
        server.terminate()
        server.wait(timeout=30)
    return text, figures


@pytest.mark.parametrize("dashboard,state", list(EXPECTED), ids=lambda v: v)
def test_dashboard_reads_well_in_chromium(browser, homes, dashboard, state):
    expected = EXPECTED[(dashboard, state)]
    shot = SHOTS / f"{dashboard}-{state}.png"
    text, figures = _read_dashboard(browser, dashboard, homes[state], shot, expected)
    for needle in expected:
        assert needle in text, (needle, shot, text)
    for needle in ["NaN", "nan%", *NEVER.get((dashboard, state), [])]:
        assert needle not in text, (needle, shot)
    for figure in figures:  # every chart drawn holds data; empty panels say what to run
        assert figure["points"] > 0 and figure["marks"] > 0, figure
    if state == "data":
        assert figures, "no chart drawn"
    # serving wrote nothing into the checkout: marimo's cache went under SHOPFLOW_HOME
    assert not (REPO / "notebooks" / "__marimo__").exists()
