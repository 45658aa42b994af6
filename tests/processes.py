"""Which processes belong to a data dir (a test's proof that nothing was left running), and a
crash of one."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from shopflow import embedded


def crash(pid: int) -> None:
    """SIGKILL ``pid`` (no clean shutdown) and wait until it is gone: until then a service's
    port may still answer, and a start would take the dead service for running."""
    os.kill(pid, signal.SIGKILL)
    while embedded._pid_alive(pid):
        time.sleep(0.01)


def processes_using(home: Path) -> list[str]:
    """Live processes whose command line or working directory lies under ``home``."""
    found = []
    root = str(home.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if (entry / "stat").read_text().split()[2] == "Z":
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
            if root in cmdline or cwd.startswith(root):
                found.append(f"{entry.name}: {cmdline.strip()[:200]}")
    return found
