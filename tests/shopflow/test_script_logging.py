"""A script logged as itself on the real Redis 6.2: other scripts keep the server's setting, a
forgotten script is loaded again, and a failing one fails loudly."""

from __future__ import annotations

import pytest
import redis

from shopflow.online_store.script_logging import SWITCH, LoggedAsItself

WRITE = "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])"
CLOCK_THEN_WRITE = "redis.call('PTTL', KEYS[1]) redis.call('SET', KEYS[1], 'x') return 1"


def test_only_its_own_call_is_logged_as_itself(redis_client) -> None:
    script = LoggedAsItself(redis_client, WRITE)
    assert script.restore == "yes"
    assert script(keys=["k"], args=["v1"]) == "v1"
    assert redis_client.config_get(SWITCH) == {SWITCH: "yes"}
    # a script that reads the clock before writing may only be logged by its writes
    assert redis_client.eval(CLOCK_THEN_WRITE, 1, "other") == 1


def test_a_forgotten_script_is_loaded_again(redis_client) -> None:
    script = LoggedAsItself(redis_client, WRITE)
    redis_client.script_flush()
    assert script(keys=["k"], args=["v2"]) == "v2"


def test_an_error_in_the_script_is_raised_and_the_setting_restored(redis_client) -> None:
    script = LoggedAsItself(redis_client, "return redis.call('INCR', KEYS[1])")
    redis_client.set("text", "not a number")
    with pytest.raises(redis.ResponseError):
        script(keys=["text"], args=[])
    assert redis_client.config_get(SWITCH) == {SWITCH: "yes"}


def test_a_script_that_reads_the_clock_fails_rather_than_log_wrongly(redis_client) -> None:
    script = LoggedAsItself(redis_client, CLOCK_THEN_WRITE)
    with pytest.raises(redis.ResponseError, match="non deterministic"):
        script(keys=["k"], args=[])


def test_a_user_who_may_not_set_config_runs_the_script_plainly(redis_client) -> None:
    redis_client.acl_setuser(
        "reader", enabled=True, passwords=["+pw"], keys=["*"],
        commands=["+@all", "-config", "+config|get"],
    )  # fmt: skip
    where = redis_client.connection_pool.connection_kwargs
    limited = redis.Redis(where["host"], where["port"], username="reader", password="pw")
    try:
        script = LoggedAsItself(limited, WRITE)
        assert script.restore == "yes"  # it may read the setting, not change it
        assert script(keys=["k"], args=["v3"]) == b"v3"
        assert script.restore is None  # from now on without the switch
        assert script(keys=["k"], args=["v4"]) == b"v4"
    finally:
        limited.close()
        redis_client.acl_deluser("reader")
