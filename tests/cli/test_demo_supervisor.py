"""The demo's supervisor stops every process it started, their own children too: a Dagster
code server is started by the webserver in its process group and may still be shutting down
when the webserver has exited."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from cli.commands.demo import Supervisor
from tests.processes import processes_using

SLOW_CHILD = """
import signal, subprocess, sys, time
grandchild = '''
import signal, sys, time
def stop(*_):
    time.sleep(1.5)  # a slow shutdown, after its parent has gone
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print('ready', flush=True)
time.sleep(60)
'''
subprocess.Popen([sys.executable, '-c', grandchild, *sys.argv[1:]], stdout=sys.stdout)
time.sleep(60)
"""


def test_stop_all_waits_for_the_children_of_its_children(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    supervisor = Supervisor()
    argv = [sys.executable, "-c", SLOW_CHILD, str(tmp_path)]  # names tmp_path: processes_using
    supervisor.start("slow", argv, log, dict(os.environ))
    deadline = time.monotonic() + 30
    while "ready" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(processes_using(tmp_path)) == 2

    started = time.monotonic()
    supervisor.stop_all(timeout=15)
    assert processes_using(tmp_path) == []
    assert time.monotonic() - started >= 1.0  # it waited for the grandchild's shutdown
