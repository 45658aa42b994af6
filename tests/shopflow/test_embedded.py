"""The embedded services launcher: one server per home, even when several processes (e.g.
API workers on a fresh home) start it at the same moment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from shopflow import embedded
from shopflow.config import Settings

START = (  # argv: home, the epoch second at which to start (so all starters race)
    "import sys, time; from pathlib import Path; from shopflow import embedded; "
    "from shopflow.config import Settings; time.sleep(max(0, float(sys.argv[2]) - time.time())); "
    "print(embedded.start_redis(Settings(home=Path(sys.argv[1]))).pid)"
)


def _servers_of(settings: Settings) -> list[int]:
    """Pids of the redis-server processes of this home (Redis rewrites its command line, but
    it works in its data dir)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if (proc / "comm").read_text().strip() == "redis-server" and (
                (proc / "cwd").resolve() == (settings.home_dir / "redis").resolve()
            ):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_concurrent_starts_share_one_redis(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SHOPFLOW_HOME")}
    at = str(time.time() + 3)
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", START, str(settings.home_dir), at],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        pids = {int(p.communicate(timeout=60)[0]) for p in starters}
        assert len(pids) == 1
        assert _servers_of(settings) == list(pids)
    finally:
        for pid in _servers_of(settings):  # (without the lock, some would not be recorded)
            os.kill(pid, signal.SIGTERM)
        embedded.stop_all(settings)
