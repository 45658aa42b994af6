"""Issue 21: a restarted embedded server comes back on its port, so clients that hold its URL
(a running API, a consumer) reconnect to it; Redis comes back with its data."""

from __future__ import annotations

import time

import pytest
import redis

from shopflow import embedded
from shopflow.config import Settings
from tests.processes import crash

pytestmark = pytest.mark.integration


def test_redis_killed_comes_back_on_its_port_with_its_data(shopflow_home: Settings) -> None:
    first = embedded.start_redis(shopflow_home)
    client = redis.Redis.from_url(first.url)
    client.set("kept", "yes")
    client.execute_command("BGREWRITEAOF")  # the append-only file holds the key now
    while client.info("persistence")["aof_rewrite_in_progress"]:
        time.sleep(0.01)
    crash(first.pid)
    second = embedded.start_redis(shopflow_home)
    assert second.pid != first.pid
    assert second.url == first.url
    assert client.get("kept") == b"yes"  # the same client, reconnected


def test_services_up_after_down_reuses_the_ports(shopflow_home: Settings) -> None:
    before = {name: embedded.ensure(name, shopflow_home) for name in embedded.SERVICE_NAMES}
    assert embedded.stop_all(shopflow_home) == list(embedded.SERVICE_NAMES)
    after = {name: embedded.ensure(name, shopflow_home) for name in embedded.SERVICE_NAMES}
    assert after == before
