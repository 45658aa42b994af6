"""Users' rights over their data: export (GDPR articles 15 and 20) and erasure (article 17),
for the user themself or an admin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from commerce.privacy import service
from serving.deps import CurrentUser
from serving.schemas_social import ErasureRequestOut, UserExport

router = APIRouter(prefix="/api/users", tags=["privacy"])
UserId = Annotated[str, Path(min_length=1, max_length=128)]


@router.get(
    "/{user_id}/export",
    summary="Everything held about a user, as one JSON document",
    response_model=UserExport,
)
async def export_user(user_id: UserId, user: CurrentUser) -> Any:
    return await run_in_threadpool(service.export_user, user, user_id)


@router.delete(
    "/{user_id}",
    status_code=202,
    summary="Erase a user's personal data",
    response_model=ErasureRequestOut,
)
async def erase_user(user_id: UserId, user: CurrentUser) -> JSONResponse:
    body = await run_in_threadpool(service.erase_user, user, user_id)
    return JSONResponse(body, status_code=202)
