"""The embedded broker as a test sees it: its process, and a crash and restart of it."""

from __future__ import annotations

import time

from shopflow import embedded
from shopflow.config import Settings
from tests.processes import crash


def broker_pid(settings: Settings) -> int:
    state = embedded.status(settings)["kafka"]
    assert state is not None, "the embedded broker is not running"
    return state.pid


def restart_broker(settings: Settings) -> float:
    """Kill the broker (SIGKILL: no clean shutdown) and start it again once it is gone (until
    then its port may still answer, and the start would take it for running); returns the
    seconds it was away. It comes back on its port, with its data if it keeps any."""
    started = time.monotonic()
    crash(broker_pid(settings))
    url = embedded.start_kafka(settings).url
    assert url == settings.kafka_bootstrap_servers, "the broker came back on another port"
    return time.monotonic() - started
