"""What rate limits cost on the hot path: ``GET /recommendations/{user}`` of the real app with
the limiter on (``serving.security.ratelimit``: one Lua call to Redis per lease of a worker's
tokens, 32 requests at these budgets; budgets raised so that the load, all from one address,
is counted but never refused) against the same
app with ``SHOPFLOW_RATE_LIMITS_ENABLED=false``, under the load and settings of
``bench_recommendations`` (wrk from another process, interleaved rounds)."""

from __future__ import annotations

from benchmarks.bench_recommendations import (
    CONNECTIONS,
    WARMUP_S,
    _recommendation_paths,
    publish_synthetic,
)
from benchmarks.loadgen import Target, bearer, compare, redis_home, rounds_header
from benchmarks.loadgen import uvicorn_server as serve

ROUNDS, ROUND_S = 6, 3
APP = "serving.app:create_app"


def main() -> None:
    paths = _recommendation_paths()
    auth = bearer()  # a server-side caller: every user's list, one rate-limit identity
    with redis_home("bench-limits-", publish_synthetic) as env:
        print(rounds_header(CONNECTIONS, ROUNDS, ROUND_S))
        unlimited = {**env, "SHOPFLOW_RATE_LIMITS_ENABLED": "false"}
        with (
            serve(APP, unlimited, paths[0], headers=auth) as (off_url, off_pid),
            serve(APP, env, paths[0], headers=auth) as (on_url, on_pid),
        ):
            [ratio] = compare(
                [
                    Target("no rate limits", off_url, off_pid, paths, auth),
                    Target("rate limits (shipped)", on_url, on_pid, paths, auth),
                ],
                rounds=ROUNDS, round_s=ROUND_S, warmup_s=WARMUP_S, connections=CONNECTIONS,
            )  # fmt: skip
            print(f"rate limits keep {ratio:.2f}x of the unlimited throughput")


if __name__ == "__main__":
    main()
