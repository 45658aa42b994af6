"""The production topology of ``compose.yaml``, run here: every Shopflow role as a process with
the environment Compose gives it, against real servers in place of the infrastructure services
(PostgreSQL from pgserver for OLTP, MLflow and Dagster storage; Redis with its password; the
Tansu broker for Kafka; the mail catcher for the SMTP relay). MLflow is the compose service
itself (`mlflow server` on PostgreSQL). One order goes through payment, notification, the
warehouse (a Dagster run the daemon executes), training and a served recommendation."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopflow import embedded
from shopflow.config import Settings
from tests.processes import processes_using

from .compose import REPO, Role, filled_env_example, image_env, roles

#: The daemon runs each asset in its own process: on two shared cores the run takes minutes.
pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(1800)]

BIN = Path(sys.executable).parent
#: Settings the test adds to what Compose gives (each only makes the test faster): the sink
#: rolls a landing file after a second instead of a minute; training tunes for a few trials.
TEST_OVERRIDES = {
    "SHOPFLOW_SINK_ROLL_SECONDS": "1",
    "SHOPFLOW_RECS_TUNING_MAX_TRIALS": "3",
}
LISTEN_OPTIONS = ("--port", "--metrics-port")
BUYER, EMAIL = "topology-buyer", "buyer@shop.example.com"


@dataclass
class Topology:
    """The running roles: their argv, environment, addresses and logs."""

    root: Path
    env_file: dict[str, str]
    roles: dict[str, Role] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log(self, name: str) -> str:
        path = self.root / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self, name: str) -> None:
        role = self.roles[name]
        program = BIN / role.argv[0]
        (self.root / "logs").mkdir(exist_ok=True)
        with (self.root / "logs" / f"{name}.log").open("wb") as out:
            self.procs[name] = subprocess.Popen(
                [str(program), *role.argv[1:]], env=role.environment, cwd=REPO,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            assert proc.poll() is None, f"{name} exited ({proc.returncode}):\n{self.log(name)}"

    def cli(self, role: str, *args: str) -> str:
        """A one-shot command in ``role``'s container (`docker compose run ROLE ARGS`)."""
        done = subprocess.run(
            [str(BIN / "shopflow"), *args], env=self.roles[role].environment, cwd=REPO,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, f"shopflow {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _prepare_postgres(server_uri: str, env: dict[str, str]) -> str:
    """What the postgres container does on an empty volume: POSTGRES_USER owning POSTGRES_DB,
    then deploy/postgres-init.sql run as that user. Returns the server's socket dir."""
    import psycopg

    socket_dir = server_uri.split("host=", 1)[1].split("&")[0]
    user, password, db = env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]
    with psycopg.connect(server_uri, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE \"{user}\" LOGIN CREATEDB PASSWORD '{password}'")
        admin.execute(f'CREATE DATABASE "{db}" OWNER "{user}"')
    init_sql = (REPO / "deploy" / "postgres-init.sql").read_text()
    statements = [s for s in re.sub(r"--.*", "", init_sql).split(";") if s.strip()]
    with psycopg.connect(f"postgresql://{user}:{password}@/{db}?host={socket_dir}") as con:
        con.autocommit = True
        for statement in statements:
            con.execute(statement)
    return socket_dir


def _drop_postgres(server_uri: str, env: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect(server_uri, autocommit=True) as admin:
        for db in (env["POSTGRES_DB"], "mlflow", "dagster"):
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.execute(f'DROP ROLE IF EXISTS "{env["POSTGRES_USER"]}"')


def _localize(role: Role, hosts: dict[str, str], pg_socket: str, root: Path) -> dict[str, int]:
    """Point ``role`` at the servers here: service host names to local addresses, named
    volumes to directories, each listening port to a free one (containers each have their
    own ports; processes share the host's). Returns the ports chosen."""
    volumes = {}
    for spec in role.volumes:
        source, target = spec.split(":")[:2]
        volumes[target] = root / "volumes" / source
        volumes[target].mkdir(parents=True, exist_ok=True)

    def local(text: str) -> str:
        text = re.sub(
            r"(postgresql(?:\+\w+)?://[^@]+)@postgres:5432/(\w+)", rf"\1@/\2?host={pg_socket}", text
        )
        for address, here in hosts.items():
            text = text.replace(address, here)
        for target, directory in volumes.items():
            if text == target or text.startswith(target + "/"):
                text = str(directory) + text[len(target) :]
        return text.replace("0.0.0.0", "127.0.0.1")

    ports, argv = {}, []
    for i, arg in enumerate(role.argv):
        if i > 0 and role.argv[i - 1] in LISTEN_OPTIONS:
            ports[role.argv[i - 1]] = port = embedded.free_port()
            arg = str(port)
        argv.append(local(arg))
    role.argv = argv
    base = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(root), "LANG": "C.UTF-8"}
    image = {k: local(v) for k, v in image_env().items() if k != "PATH"}
    given = {k: local(v) for k, v in role.environment.items()}
    role.environment = {**base, **image, **given, **TEST_OVERRIDES}
    return ports


@pytest.fixture
def topology(postgres_server: str, tmp_path: Path) -> Iterator[Topology]:
    servers = Settings(home=tmp_path / "servers", kafka_storage="memory")
    env = filled_env_example()
    top = Topology(root=tmp_path, env_file=env)
    try:
        redis_url = embedded.start_redis(servers).url
        import redis

        redis.Redis.from_url(redis_url).config_set("requirepass", env["REDIS_PASSWORD"])
        kafka = embedded.start_kafka(servers).url
        mail_port = embedded.start_mail(servers).port
        env |= {"SHOPFLOW_SMTP_HOST": "127.0.0.1", "SHOPFLOW_SMTP_PORT": str(mail_port),
                "SHOPFLOW_SMTP_STARTTLS": "false"}  # fmt: skip
        pg_socket = _prepare_postgres(postgres_server, env)
        top.roles = roles(env)
        mlflow_port = embedded.free_port()
        hosts = {
            "@redis:6379": "@" + redis_url.split("//", 1)[1].rsplit("/", 1)[0].split("@")[-1],
            "kafka:9092": kafka,
            "http://mlflow:5000": f"http://127.0.0.1:{mlflow_port}",
        }
        for name, role in top.roles.items():
            ports = _localize(role, hosts, pg_socket, tmp_path)
            if "--port" in ports:
                top.ports[name] = ports["--port"]
            if "--metrics-port" in ports:
                top.ports[name] = ports["--metrics-port"]
        # the mlflow service listens where the others' MLFLOW_TRACKING_URI points
        argv = top.roles["mlflow"].argv
        argv[argv.index("--port") + 1] = str(mlflow_port)
        top.ports["mlflow"] = mlflow_port
        yield top
    finally:
        top.stop()
        embedded.stop_all(servers)
        with contextlib.suppress(Exception):
            _drop_postgres(postgres_server, env)
    assert processes_using(tmp_path) == []


def _wait(url: str, top: Topology, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        top.check_alive()
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=3).status_code == 200:
                return
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout:.0f}s")


def _shop(api: str, top: Topology) -> tuple[dict[str, Any], dict[str, Any]]:
    """An admin lists a product; the buyer leaves an email, orders it and pays by card."""
    key_file = top.root / "jwt.key"
    key_file.write_text(top.env_file["SHOPFLOW_JWT_SECRET"])
    admin_token = top.cli("api", "token", "--user", "ops", "--role", "admin",
                          "--signing-key-file", str(key_file)).strip()  # fmt: skip
    admin = {"Authorization": f"Bearer {admin_token}"}
    buyer = {"Authorization": "Bearer " + top.cli("api", "token", "--user", BUYER).strip()}
    product = {"title": "Topology kettle", "category": "kitchen", "price_minor": 4999,
               "currency": "EUR", "stock": 5}  # fmt: skip
    put = httpx.put(f"{api}/api/products/sku-topology", json=product, headers=admin, timeout=30)
    assert put.status_code == 201, put.text
    prefs = {"email": EMAIL}
    put = httpx.put(f"{api}/api/notifications/preferences", json=prefs, headers=buyer, timeout=30)
    assert put.status_code == 200, put.text
    line = {"product_id": "sku-topology", "quantity": 1}
    order = httpx.post(f"{api}/api/orders", json={"lines": [line]}, headers=buyer, timeout=30)
    assert order.status_code == 201, order.text
    body = order.json()
    pay = {
        "order_id": body["id"], "amount_minor": body["total_minor"], "currency": body["currency"],
        "method": "CREDIT_CARD", "payment_method": "pm_card_visa",
        "billing_address": {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345",
                            "country": "US"},
        "customer": {"name": "Ada Buyer", "email": EMAIL},
    }  # fmt: skip
    payment = httpx.post(f"{api}/api/payments", json=pay, headers=buyer, timeout=30)
    assert payment.status_code == 201, payment.text
    url = f"{api}/api/payments/{payment.json()['id']}/confirm"
    confirmed = httpx.post(url, headers=buyer, timeout=30)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "COMPLETED", confirmed.json()
    return body, confirmed.json()


def _mail_subjects(top: Topology) -> list[str]:
    from shopflow.mailbox import mail_dir, read_mail

    found = read_mail(mail_dir(Settings(home=top.root / "servers")))
    return [m.subject for m in found if EMAIL in m.to]


def _landed(home: Path, text: str) -> bool:
    import pyarrow.parquet as pq

    for path in (home / "landing").rglob("*.parquet"):
        if not path.name.startswith(".") and text in str(pq.read_table(path).to_pylist()):
            return True
    return False


def _run_dagster_job(top: Topology, job: str, timeout: float = 1200) -> str:
    """Launch ``job`` through the webserver's GraphQL API; the daemon dequeues and runs it."""
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=top.ports["dagster-webserver"])
    run_id = client.submit_job_execution(job)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        top.check_alive()
        status = client.get_run_status(run_id).value
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            assert status == "SUCCESS", f"run {run_id}: {status}\n{top.log('dagster-daemon')}"
            return run_id
        time.sleep(2)
    raise AssertionError(f"run {run_id} unfinished after {timeout:.0f}s")


def test_the_compose_topology_takes_an_order_to_a_served_recommendation(
    topology: Topology,
) -> None:
    top = topology
    assert {"api", "relay", "stream-features", "stream-sink", "stream-notify",
            "stream-wishlist-alerts", "notify-worker", "dagster-webserver", "dagster-daemon",
            "mlflow"} <= set(top.roles)  # fmt: skip
    # in compose.yaml's order: the API (it migrates the database) before what depends on it
    first = [n for n in top.roles if "api" not in top.roles[n].depends_on]
    assert set(first) == {"api", "mlflow"}, first
    for name in first:
        top.start(name)
    api = top.url("api")
    _wait(f"{api}/health", top)
    for name in top.roles:
        if name not in first:
            top.start(name)
    _wait(f"{top.url('mlflow')}/health", top)
    for name in top.roles:
        if name.startswith("stream-"):
            _wait(f"{top.url(name)}/metrics", top)
    _wait(f"{top.url('dagster-webserver')}/server_info", top)

    # a shop's history lands beside what the sink writes (`docker compose run dagster-daemon`)
    top.cli("dagster-daemon", "generate", "--users", "120", "--days", "10", "--seed", "5",
            "--no-progress")  # fmt: skip
    order, payment = _shop(api, top)
    deadline = time.monotonic() + 120
    home = Path(top.roles["stream-sink"].environment["SHOPFLOW_HOME"])
    while time.monotonic() < deadline:
        subjects = _mail_subjects(top)
        if any(order["id"] in s for s in subjects) and _landed(home, payment["id"]):
            break
        top.check_alive()
        time.sleep(1)
    assert f"Order {order['id']} confirmed" in _mail_subjects(top)
    assert _landed(home, payment["id"]), "the sink did not land the payment events"

    run_id = _run_dagster_job(top, "all_assets")

    import duckdb
    import psycopg

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        paid = con.execute(
            "select order_id, status from fct_payments where payment_id = ?", [payment["id"]]
        ).fetchone()
        user_id = con.execute(
            "select user_id from fct_interactions group by 1 order by count(*) desc limit 1"
        ).fetchone()[0]
    assert paid is not None and paid[0] == order["id"], paid
    dagster_url = top.roles["dagster-daemon"].environment["DAGSTER_POSTGRES_URL"]
    dagster_url = dagster_url.replace("postgresql+psycopg2://", "postgresql://")
    with psycopg.connect(dagster_url) as con:  # the run is in Dagster's PostgreSQL storage
        assert con.execute("select status from runs where run_id = %s", [run_id]).fetchone()

    key = top.cli("api", "keys", "create", "--kind", "secret", "--name", "topology").strip()
    recs = httpx.get(
        f"{api}/recommendations/{user_id}", params={"limit": 5},
        headers={"Authorization": f"Bearer {key}"}, timeout=30,
    )  # fmt: skip
    assert recs.status_code == 200, recs.text
    body = recs.json()
    assert body["items"] and body["model"] and body["model_version"], body

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=top.url("mlflow"))  # the tracking server
    from models.registry import SERVING_MODEL

    champion = client.get_model_version_by_alias(SERVING_MODEL, "champion")
    assert str(champion.version) == str(body["model_version"])
    top.check_alive()
