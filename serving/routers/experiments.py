"""``GET /experiments``: the running A/B experiments (experiments.yaml). The lifespan hook here
also makes the experiments service and the exposure log used by ``/recommendations``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, Field

from serving.experiments import ExperimentsService, ExposureLog, describe
from serving.lifespan import register_hook

router = APIRouter(tags=["experiments"])
FLUSH_EVERY_S = 2.0


@register_hook
@asynccontextmanager
async def _experiments(app: FastAPI) -> AsyncIterator[None]:
    settings = app.state.settings
    app.state.experiments = ExperimentsService(settings)
    exposures = ExposureLog(settings, lambda: getattr(app.state, "event_producer", None))
    app.state.exposures = exposures

    async def flush_forever() -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            await exposures.flush()

    task = asyncio.create_task(flush_forever())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await exposures.flush()


class VariantOut(BaseModel):
    key: str
    weight: float
    strategy: str = Field(description="Recommender strategy the variant serves.")


class ExperimentOut(BaseModel):
    key: str
    name: str
    description: str
    status: str
    coverage: float
    hash_seed: str
    hash_version: int = Field(description="GrowthBook hash version used for assignment.")
    control: str
    variants: list[VariantOut]


class ExperimentsOut(BaseModel):
    experiments: list[ExperimentOut]


@router.get(
    "/experiments",
    summary="Running A/B experiments",
    response_model=ExperimentsOut,
    responses={503: {"description": "The experiments file is invalid (problem details)"}},
)
async def list_experiments(request: Request) -> dict[str, object]:
    """The running experiments with their variants, weights, coverage and strategies;
    assignment is GrowthBook-compatible (hash v2 of seed + user id)."""
    service: ExperimentsService = request.app.state.experiments
    return {"experiments": [describe(e) for e in service.active()]}
