"""``POST /events`` throughput in events/s, single (1 event a request) and batched (100 a
request), against a bare FastAPI endpoint that takes the same bodies and answers 202 without
doing anything, in the same run. Both run under uvicorn with the same settings (1 worker, no
access log) and the same load generator (wrk, else Python) in interleaved rounds. The Shopflow
app validates every event and waits for the broker's acks (acks=all, idempotent producer) on
the embedded broker and Redis this script starts (its storage as ``SHOPFLOW_KAFKA_STORAGE``
says: run it once with ``memory`` and once with ``durable`` to see what durability costs).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from fastapi import FastAPI, Request, Response

from benchmarks.loadgen import UVICORN_FLAGS, LoadResult, api_env, bearer, combine, run_load
from benchmarks.loadgen import uvicorn_server as serve
from commerce.db import migrate
from shopflow import embedded
from shopflow.config import Settings

ROUNDS, ROUND_S, WARMUP_S, CONNECTIONS, BATCH = 3, 2, 1, 32, 100


def baseline_app() -> FastAPI:
    """The baseline: reads the body, answers 202 with a constant, nothing else."""
    app = FastAPI()

    @app.post("/events")
    async def sink(request: Request) -> Response:
        await request.body()
        return Response(b'{"accepted": 1}', status_code=202, media_type="application/json")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _event(n: int) -> dict[str, object]:
    """A product view without event_id/occurred_at: the API fills them in, so repeating one
    body still publishes distinct events."""
    return {
        "event_type": "product_view",
        "user_id": f"u{n % 997}",
        "session_id": f"s{n % 997}",
        "payload": {"item_id": f"i{n % 4999}"},
    }


def _load(url: str, body: bytes, seconds: float) -> LoadResult:
    headers = {"Content-Type": "application/json", **bearer()}  # the bare app ignores it
    return run_load(
        url, ["/events"], seconds, CONNECTIONS, method="POST", headers=headers, body=body
    )


def main() -> None:
    single = json.dumps(_event(1)).encode()
    batched = json.dumps([_event(n) for n in range(BATCH)]).encode()
    bodies = [("single", single, 1), (f"batch of {BATCH}", batched, BATCH)]
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        settings = Settings(home=Path(tmp))
        settings.ensure_dirs()
        migrate.upgrade(settings.sqlalchemy_url)  # the audit log of the service's writes
        try:
            env = api_env(
                SHOPFLOW_HOME=tmp,
                REDIS_URL=embedded.start_redis(settings).url,
                KAFKA_BOOTSTRAP_SERVERS=embedded.start_kafka(settings).url,
            )
            with (
                serve(f"{__name__}:baseline_app", env, "/health") as (base_url, _),
                serve("serving.app:create_app", env, "/health") as (api_url, _),
            ):
                targets = [base_url, api_url]
                for url in targets:
                    for _, body, _ in bodies:  # warm-up (and the producer's first connect)
                        _load(url, body, WARMUP_S)
                rounds: dict[tuple[str, str], list[LoadResult]] = {}
                for _ in range(ROUNDS):  # interleaved: every target sees the same machine
                    for label, body, _ in bodies:
                        for url in targets:
                            rounds.setdefault((label, url), []).append(_load(url, body, ROUND_S))
        finally:
            embedded.stop_all(settings)
    print(f"{CONNECTIONS} connections, {ROUNDS} interleaved rounds of {ROUND_S} s, uvicorn "
          f"{' '.join(UVICORN_FLAGS)}; broker storage {settings.kafka_storage} "
          "(SHOPFLOW_KAFKA_STORAGE=memory|durable)")  # fmt: skip
    for label, _, per_request in bodies:
        base = combine(rounds[(label, base_url)])
        ours = combine(rounds[(label, api_url)])
        print(base.line(f"bare POST, {label}"))
        print(ours.line(f"POST /events, {label}"))
        if base.errors or ours.errors:
            print(f"WARNING: errors during load (baseline {base.errors}, ours {ours.errors})")
        print(
            f"{label}: {ours.rps * per_request:,.0f} events/s vs bare {base.rps * per_request:,.0f}"
            f" events/s; ratio POST /events / bare: {ours.rps / base.rps:.3f}"
        )


if __name__ == "__main__":
    main()
