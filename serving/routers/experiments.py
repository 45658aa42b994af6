"""``GET /experiments``: the running A/B experiments (experiments.yaml)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from serving.deps import ExperimentsDep
from serving.experiments import describe

router = APIRouter(tags=["experiments"])


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
async def list_experiments(service: ExperimentsDep) -> dict[str, object]:
    """The running experiments with their variants, weights, coverage and strategies;
    assignment is GrowthBook-compatible (hash v2 of seed + user id)."""
    return {"experiments": [describe(e) for e in service.active()]}
