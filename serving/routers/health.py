"""Probes: ``/livez`` (the process answers), ``/readyz`` (it can serve: database, Redis,
broker, a recommendations publication) and ``GET /health`` (Redis and the fallback)."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from serving.deps import OnlineStoreDep, ReadinessDep, RedisDep
from serving.schemas_shop import HealthOut, LiveOut, ReadyOut
from shopflow.online_store import connect
from shopflow.online_store.connect import AsyncClient

router = APIRouter(tags=["health"])


@router.get("/livez", summary="Liveness: the process is up", response_model=LiveOut)
async def livez() -> dict[str, str]:
    """Always 200 while the process serves requests; checks no dependency (a restart would
    not fix one)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: database, Redis, broker and a recommendations publication",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "A part is unreachable (named)"}},
)
async def readyz(readiness: ReadinessDep, redis: RedisDep) -> JSONResponse:
    """200 when every part answers; 503 naming each part that does not, with its error."""
    checks = await readiness.checks()
    checks.update(await _cluster_slots(redis))
    failing = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "unready" if failing else "ready", "failing": failing, "checks": checks}
    return JSONResponse(body, 503 if failing else 200)


async def _cluster_slots(redis: AsyncClient) -> dict[str, dict[str, object]]:
    """On a Redis Cluster, the ``redis_slots`` check: failed while a slot range has no node
    (its keys can be neither read nor written); nothing on a standalone Redis."""
    if not connect.is_cluster_client(redis):
        return {}
    try:
        missing = await connect.cluster_health(redis)
    except Exception as exc:  # health reports, never raises
        return {"redis_slots": {"ok": False, "error": str(exc)}}
    if missing:
        error = f"no node serves slots {connect.describe(missing)}"
        return {"redis_slots": {"ok": False, "error": error}}
    return {"redis_slots": {"ok": True}}


@router.get(
    "/health",
    summary="Health of the API and its dependencies",
    response_model=HealthOut,
    responses={
        503: {
            "model": HealthOut,
            "description": "Redis is unreachable, or no node serves a cluster slot range",
        }
    },
)
async def health(redis: RedisDep, store: OnlineStoreDep) -> JSONResponse:
    """Redis reachability (on a cluster, also that every slot is served), and the
    popularity snapshot ``/recommendations`` serves while Redis is down (its age; none
    until the first publication was read)."""
    checks: dict[str, dict[str, object]] = {}
    start = time.perf_counter()
    try:
        await redis.ping()
        checks["redis"] = {"ok": True, "ms": round((time.perf_counter() - start) * 1000, 2)}
    except Exception as exc:  # health reports, never raises
        checks["redis"] = {"ok": False, "error": str(exc)}
    if checks["redis"]["ok"]:
        checks.update(await _cluster_slots(redis))
    ok = all(c["ok"] for c in checks.values())
    snapshot = store.popular_snapshot
    fallback = {
        "popular_items": len(snapshot.items) if snapshot else 0,
        "age_s": round(time.time() - snapshot.taken_at, 1) if snapshot else None,
    }
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "checks": checks, "fallback": fallback},
        503 if not ok else 200,
    )
