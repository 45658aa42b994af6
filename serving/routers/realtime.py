"""Live analytics (``GET /analytics/realtime``) and Prometheus metrics (``GET /metrics``): both
need an admin token or a secret key (a scraper sends ``Authorization: Bearer sk_...``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from serving import live_metrics as realtime
from serving import metrics as realtime_metrics
from serving.deps import RedisDep, ServiceUser

router = APIRouter(tags=["realtime"])
REVENUE = "Currency -> revenue of the orders paid, in minor units (cancelled/failed: none)."


class MinuteMetrics(BaseModel):
    minute: str = Field(description="Start of the minute (UTC, ISO 8601).")
    orders: int = Field(description="Orders placed.")
    paid_orders: int = Field(description="Orders paid.")
    revenue_minor: dict[str, int] = Field(description=REVENUE)
    active_users: int = Field(description="Distinct users (HyperLogLog estimate).")
    views_by_category: dict[str, int]


class LiveMetrics(BaseModel):
    minutes: int
    from_: str = Field(alias="from", description="Window start (UTC).")
    to: str = Field(description="Window end (UTC, exclusive).")
    orders: int = Field(description="Orders placed.")
    paid_orders: int = Field(description="Orders paid.")
    revenue_minor: dict[str, int] = Field(description=REVENUE)
    active_users: int = Field(description="Distinct users over the window (HyperLogLog).")
    views_by_category: dict[str, int]
    per_minute: list[MinuteMetrics]


@router.get(
    "/analytics/realtime",
    summary="Live metrics of the last minutes",
    response_model=LiveMetrics,
    response_model_by_alias=True,
    responses={401: {"description": "No or an invalid token"}, 403: {"description": "Not admin"}},
)
async def get_realtime(
    redis: RedisDep,
    caller: ServiceUser,
    minutes: Annotated[int, Query(ge=1, le=1440, description="Window length.")] = 15,
) -> dict[str, object]:
    """Orders placed and paid, revenue of the paid ones, active users and views per
    category, by the events' time, as the features consumer (`shopflow stream features`)
    counts them."""
    return await realtime.live_metrics(redis, minutes)


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def get_metrics(caller: ServiceUser) -> Response:
    body, content_type = realtime_metrics.exposition()
    return Response(body, media_type=content_type)
