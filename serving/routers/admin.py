"""Admin API: the audit log of admin and service actions (``commerce.audit``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field

from commerce import audit
from serving.deps import AdminUser

router = APIRouter(tags=["admin"])


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor_id: str
    actor_kind: str = Field(description="admin, service or cli")
    action: str = Field(description="`METHOD /route/{template}`, or `cli:<command>`")
    target_ids: dict[str, Any] = Field(description="Path parameters of the request")
    status: int = Field(description="HTTP status, or the CLI command's exit code")
    client_ip: str | None
    user_agent: str | None


class AuditPageOut(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next, older page")


@router.get("/api/admin/audit", summary="Audit log, newest first (admin)")
def audit_log(
    _: AdminUser,
    actor: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    action: Annotated[
        str | None,
        Query(min_length=1, max_length=300, description="Exact, or a prefix ending in `*`"),
    ] = None,
    since: Annotated[
        AwareDatetime | None, Query(description="Inclusive, with a UTC offset")
    ] = None,
    until: Annotated[
        AwareDatetime | None, Query(description="Exclusive, with a UTC offset")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
) -> AuditPageOut:
    page = audit.query(
        actor=actor, action=action, since=since, until=until, limit=limit, cursor=cursor
    )
    return AuditPageOut.model_validate({"items": page.items, "next_cursor": page.next_cursor})
