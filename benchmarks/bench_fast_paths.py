"""Whether the recommendation hot path's fast lane pays for itself: ``GET /recommendations/{user}``
of the real app with the fast lane (``serving.fastlane``) against the same app
with FastAPI routing every request (same Redis client: ``redis.asyncio`` with hiredis), under
the load and settings of ``bench_recommendations`` (wrk from another process, interleaved
rounds). The lane earns its keep at a throughput ratio of at least ``BAR``.
"""

from __future__ import annotations

from benchmarks.bench_recommendations import (
    CONNECTIONS,
    WARMUP_S,
    _recommendation_paths,
    publish_synthetic,
)
from benchmarks.loadgen import Target, bearer, compare, redis_home, rounds_header
from benchmarks.loadgen import uvicorn_server as serve

BAR = 1.3
ROUNDS, ROUND_S = 8, 3  # more and longer rounds than bench_recommendations: a 1.3x bar is close


def app_without_fastlane() -> object:
    """The app with FastAPI routing every request (the fast lane never installed)."""
    from serving import fastlane
    from serving.app import create_app

    fastlane.install = lambda app, lanes: None
    return create_app()


def main() -> None:
    paths = _recommendation_paths()
    auth = bearer()  # both paths check the same service token
    with redis_home("bench-fast-", publish_synthetic) as env:
        print(rounds_header(CONNECTIONS, ROUNDS, ROUND_S) + f"; the lane stays at >= {BAR}x")
        with (
            serve(f"{__name__}:app_without_fastlane", env, paths[0], headers=auth) as (
                rt_url,
                rt_pid,
            ),
            serve("serving.app:create_app", env, paths[0], headers=auth) as (lane_url, lane_pid),
        ):
            [ratio] = compare(
                [
                    Target("FastAPI routing", rt_url, rt_pid, paths, auth),
                    Target("fast lane (shipped)", lane_url, lane_pid, paths, auth),
                ],
                rounds=ROUNDS, round_s=ROUND_S, warmup_s=WARMUP_S, connections=CONNECTIONS,
            )  # fmt: skip
            verdict = "earns its keep" if ratio >= BAR else f"below the {BAR}x bar"
            print(f"fast lane: {ratio:.2f}x throughput, {verdict}")


if __name__ == "__main__":
    main()
