"""``shopflow demo``: generate a shop, run the pipeline, serve the Dagster UI and the API.

Ctrl-C (or SIGTERM) stops everything the demo started. ``--once`` checks that a known user
gets recommendations over HTTP, stops everything and exits 0.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from shopflow.config import Settings

console = Console(width=None if sys.stdout.isatty() else 160)  # a log file gets whole lines

#: Long-running workers the demo starts beside the API (``shopflow`` sub-commands).
STREAM_WORKERS: dict[str, list[str]] = {
    "stream-features": ["stream", "features"],
    "stream-sink": ["stream", "sink"],
    "stream-notify": ["stream", "notify"],
    "stream-wishlist-alerts": ["stream", "wishlist-alerts"],
    "relay": ["relay", "--kafka"],
}


@dataclass
class Supervisor:
    """Child processes started by the demo, each in its own process group."""

    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        out = log.open("ab")
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )  # fmt: skip
        self.procs.append((name, proc))

    def check_alive(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with code {proc.returncode}")

    def stop_all(self, timeout: float = 15.0) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for _, proc in self.procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for _, proc in self.procs:  # a child's own children (Dagster's code servers) too
            _wait_group_gone(proc.pid, deadline)
        self.procs.clear()


def _wait_group_gone(pgid: int, deadline: float) -> None:
    """Wait until no process of group ``pgid`` is left, killing what is left at ``deadline``
    (a process that has exited but is not reaped yet still counts, for a short while)."""
    killed = False
    while True:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        now = time.monotonic()
        if now >= deadline:
            if killed:
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            killed, deadline = True, now + 2.0
        time.sleep(0.05)


def _wait_http(url: str, timeout: float, sup: Supervisor) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sup.check_alive()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def _check_recommendations(api: str, user_id: str, key: str) -> dict[str, Any]:
    response = httpx.get(
        f"{api}/recommendations/{user_id}",
        params={"limit": 10},
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    response.raise_for_status()
    body: dict[str, object] = response.json()
    if not body.get("items"):
        raise RuntimeError(f"no recommendations for {user_id}: {body}")
    return body


SPAM_SAMPLE = (
    "CHEAP deals!!! visit www.best-deal.example and www.cheap-offer.example, "
    "more at http://promo.example/now"
)


def _flag_spam_review(api: str, user_id: str, product_id: str) -> str:
    """Post an obvious link-spam review as ``user_id`` and read the verdict back as an admin:
    the line the demo prints (the spam classifier the pipeline trained, and the rules)."""
    from commerce.auth import mint_token

    posted = httpx.post(
        f"{api}/api/products/{product_id}/reviews",
        json={"rating": 5, "title": "BEST", "body": SPAM_SAMPLE},
        headers={"Authorization": f"Bearer {mint_token(user_id)}"},
        timeout=10,
    )
    if posted.status_code != 201:
        return f"[yellow]warn[/] review not posted: {posted.status_code} {posted.text[:200]}"
    review = httpx.get(
        f"{api}/api/reviews/{posted.json()['id']}",
        headers={"Authorization": f"Bearer {mint_token('demo-admin', ['admin'])}"},
        timeout=10,
    ).json()
    model = review.get("spam_model_version") or "rules only (too few labels to train)"
    return (
        f"{'[green]ok[/]' if review['status'] == 'FLAGGED' else '[yellow]warn[/]'} a link-spam "
        f"review is {review['status']} (spam score {review['spam_score']:.2f}, rules "
        f"{', '.join(review['rule_hits']) or 'none'}, model {model})"
    )


def _known_user(settings: Settings) -> str:
    """A user with interactions in the warehouse (read after the pipeline finished)."""
    import duckdb

    path = settings.warehouse_path
    with duckdb.connect(str(path), read_only=True) as con:
        row = con.execute(
            "select user_id from fct_interactions group by user_id order by count(*) desc limit 1"
        ).fetchone()
    if row is None:
        raise RuntimeError("the warehouse has no interactions")
    return str(row[0])


def _mail_env(url: str) -> dict[str, str]:
    """Where the workers send mail: the embedded catcher (``smtp://HOST:PORT``)."""
    host, port = url.removeprefix("smtp://").rsplit(":", 1)
    return {"SHOPFLOW_SMTP_HOST": host, "SHOPFLOW_SMTP_PORT": port}


def _where_table(settings: Settings, sup: Supervisor, api: str, dagster_port: int) -> Table:
    """What runs where: every service and process the demo runs, its pid, address and log
    (in ``settings.run_dir``)."""
    from shopflow import embedded

    table = Table("what", "pid", "address", "log", title="what runs where", title_justify="left")
    for name, state in embedded.status(settings).items():
        if state is not None:
            table.add_row(name, str(state.pid), state.url, f"{name}.log")
    addresses = {"api": api, "dagster": f"http://{settings.api_host}:{dagster_port}"}
    for name, proc in sup.procs:
        table.add_row(name, str(proc.pid), addresses.get(name, "-"), f"{name}.log")
    return table


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        once: bool = typer.Option(False, "--once", help="Run, check over HTTP, stop, exit."),
        users: int = typer.Option(2000, help="Users of the generated shop."),
        days: int = typer.Option(30, help="Days of history."),
        seed: int = typer.Option(7, help="Generator seed."),
        regenerate: bool = typer.Option(False, help="Generate even if landing data exists."),
        api_port: int = typer.Option(0, help="API port (0: Settings.api_port)."),
        dagster_port: int = typer.Option(0, help="Dagster UI port (0: Settings.dagster_port)."),
    ) -> None:
        """Generate a demo shop, materialize every asset, serve the Dagster UI and the API."""
        from shopflow import embedded, landing
        from shopflow.config import get_settings

        settings = get_settings()
        settings.ensure_dirs()
        api_port = api_port or settings.api_port
        dagster_port = dagster_port or settings.dagster_port
        for port in (api_port,) if once else (api_port, dagster_port):
            if embedded._port_open(port):
                console.print(f"[red]error:[/] port {port} is busy; pass --api-port/--dagster-port")
                raise typer.Exit(2)

        before = {name for name, state in embedded.status(settings).items() if state}
        sup = Supervisor()
        stopping = False

        def _on_signal(signum: int, _frame: object) -> None:
            nonlocal stopping
            stopping = True
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _on_signal)
        code = 0
        try:
            console.rule("[bold]services")
            for name in embedded.SERVICE_NAMES:
                console.print(f"{name}: {embedded.ensure(name, settings)}")
            env = {**os.environ, "SHOPFLOW_HOME": str(settings.home_dir)}
            env.setdefault("REDIS_URL", embedded.ensure_redis(settings))
            env.setdefault("KAFKA_BOOTSTRAP_SERVERS", embedded.ensure_kafka(settings))
            env.update(_mail_env(embedded.ensure("mail", settings)))
            env.setdefault("SHOPFLOW_NOTIFY_DIGEST_WINDOW_S", f"{settings.demo_digest_window_s:g}")

            if regenerate or not landing.partitions(settings):
                console.rule("[bold]generate")
                from shopflow.experiments import load_experiments
                from shopflow.experiments.simulate import from_file
                from shopflow.generate import generate_shop

                running = [e.key for e in load_experiments().running]
                report = generate_shop(
                    users=users, days=days, seed=seed, settings=settings,
                    experiments=from_file(running, []),  # exposures, no simulated lift
                )  # fmt: skip
                console.print(f"generated {report.total_events:,} events")

            console.rule("[bold]materialize")
            from cli.commands.materialize import failed_steps, run_reported

            result, progress, log = run_reported(settings, sys.stdout)
            console.print(progress.summary(log), soft_wrap=True, highlight=False)
            if not result.success:
                raise RuntimeError(f"materialize failed at {', '.join(failed_steps(result))}")
            signal.signal(signal.SIGTERM, _on_signal)  # Dagster maps SIGTERM to SIGINT's handler

            from commerce.catalog import list_products
            from commerce.db import migrate

            migrate.upgrade()  # the oltp_catalog asset synced the products already
            total = list_products(limit=1)["total"]
            console.print(f"{total:,} products in the OLTP catalog")
            from commerce import api_keys

            _, secret_key = api_keys.create("secret", "demo server")
            _, publishable_key = api_keys.create("publishable", "demo storefront")

            console.rule("[bold]serve")
            logs = settings.run_dir
            api = f"http://{settings.api_host}:{api_port}"
            shopflow_bin = str(Path(sys.executable).with_name("shopflow"))
            sup.start(
                "api",
                [shopflow_bin, "serve", "--host", settings.api_host, "--port", str(api_port)],
                logs / "api.log",
                env,
            )
            _wait_http(f"{api}/health", 60, sup)
            user_id = _known_user(settings)
            body = _check_recommendations(api, user_id, secret_key)
            model = body.get("model")
            console.print(f"[green]ok[/] {user_id} got {len(body['items'])} items from {model}")
            product_id = list_products(limit=1)["items"][0]["id"]
            console.print(_flag_spam_review(api, user_id, product_id), highlight=False)
            keys_text = (  # soft-wrapped: a key must stay on one line to be copied
                f"keys      secret {secret_key} (server side: any user)\n"
                f"          publishable {publishable_key} (browsers: anonymous visitors)"
            )
            console.print(keys_text, soft_wrap=True)
            if once:
                return
            for name, args in STREAM_WORKERS.items():
                sup.start(name, [shopflow_bin, *args], logs / f"{name}.log", env)
            from pipelines.instance import prepare_dagster_home

            dagster_env = {**env, "DAGSTER_HOME": str(prepare_dagster_home(settings))}
            sup.start(
                "dagster",
                [
                    str(Path(sys.executable).with_name("dagster")), "dev",
                    "-m", "pipelines.definitions",
                    "-h", settings.api_host, "-p", str(dagster_port),
                ],
                logs / "dagster.log",
                dagster_env,
            )  # fmt: skip
            _wait_http(f"http://{settings.api_host}:{dagster_port}/server_info", 120, sup)
            console.rule("[bold green]Shopflow is up")
            console.print(f"API       {api}  (docs: {api}/docs)")
            console.print(f"Dagster   http://{settings.api_host}:{dagster_port}")
            console.print(
                f"try       curl -H 'Authorization: Bearer {secret_key}' "
                f"{api}/recommendations/{user_id}",
                soft_wrap=True,
            )
            console.print(
                f"mail      shopflow mail list   (kept under {settings.home_dir / 'mail'})"
            )
            window = env["SHOPFLOW_NOTIFY_DIGEST_WINDOW_S"]
            console.print(f"digests   price drops are mailed after {window}s "
                          "(SHOPFLOW_NOTIFY_DIGEST_WINDOW_S)")  # fmt: skip
            console.print(_where_table(settings, sup, api, dagster_port))
            console.print(f"logs      {logs}    Ctrl-C stops everything", soft_wrap=True)
            while True:
                sup.check_alive()
                time.sleep(1)
        except KeyboardInterrupt:
            console.print("\nstopping ..." if not stopping else "\nSIGTERM, stopping ...")
        except Exception as exc:
            console.print(f"[red]demo failed:[/] {exc}")
            code = 1
        finally:
            sup.stop_all()
            for name in embedded.SERVICE_NAMES:
                if name not in before:
                    embedded.stop(name, settings)
        raise typer.Exit(code)
