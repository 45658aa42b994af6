"""``GET /health``: the API and its dependencies."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from serving.deps import OnlineStoreDep, RedisDep
from serving.schemas_shop import HealthOut

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Health of the API and its dependencies",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "Redis is unreachable (degraded)"}},
)
async def health(redis: RedisDep, store: OnlineStoreDep) -> JSONResponse:
    """Redis reachability, and the popularity snapshot ``/recommendations`` serves while
    Redis is down (its age; none until the first publication was read)."""
    checks: dict[str, dict[str, object]] = {}
    start = time.perf_counter()
    try:
        await redis.ping()
        checks["redis"] = {"ok": True, "ms": round((time.perf_counter() - start) * 1000, 2)}
    except Exception as exc:  # health reports, never raises
        checks["redis"] = {"ok": False, "error": str(exc)}
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
