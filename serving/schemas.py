"""Shapes the API documents: the problem-details error body, and the building blocks of the
success bodies (``serving.schemas_shop``, ``serving.schemas_social``). Timestamps stay the
ISO 8601 strings the domain writes (no re-parsing on the way out)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from serving.errors import PROBLEM_JSON

Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Money = Annotated[int, Field(description="An amount in minor units (cents).")]


class Problem(BaseModel):
    """RFC 9457 problem details; some errors add members (``errors`` for invalid input,
    ``retry_after_s``, ``current_status``, ``refundable_minor``...)."""

    type: str = Field("about:blank", examples=["about:blank"])
    title: str = Field(examples=["Invalid request"])
    status: int = Field(examples=[422])
    detail: str = Field(examples=["body.lines: Field required"])
    instance: str | None = Field(None, examples=["/api/orders"])
    errors: list[dict[str, Any]] | None = Field(
        None, description="Invalid input: one entry per field (loc, msg, type)."
    )


def problem_response(description: str) -> dict[str, Any]:
    """An OpenAPI response whose body is ``Problem`` as ``application/problem+json``."""
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


class Page(BaseModel):
    """Offset pagination: ``items`` of ``total``."""

    total: int
    limit: int
    offset: int


class CursorPage(BaseModel):
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class Check(BaseModel):
    ok: bool
    ms: float | None = None
    error: str | None = None


class Updated(BaseModel):
    updated: int = Field(description="How many deliveries changed status.")
