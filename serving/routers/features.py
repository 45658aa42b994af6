"""Feature flags: the GrowthBook SDK payload by client key, and server-side evaluation."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from commerce.errors import Forbidden
from serving.deps import CurrentUser, ExperimentsDep, ExposuresDep
from serving.experiments import evaluate_features

router = APIRouter(tags=["features"])

ClientKey = Annotated[str, Path(min_length=5, max_length=128)]


class EvaluateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attributes: dict[str, Any] = Field(
        description="The user's attributes; `id` identifies the user (hashing and "
        "exposures). Attributes no rule uses are ignored.",
        examples=[{"id": "u1", "country": "DE", "app_version": "2.1.0"}],
    )
    features: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=1000, description="Only these features (all when omitted)."
    )


class ExperimentOut(BaseModel):
    key: str
    variation_id: int
    variation: str
    hash_attribute: str
    bucket: float


class FeatureOut(BaseModel):
    value: Any
    source: str = Field(description="defaultValue, force or experiment")
    rule_id: str | None = None
    experiment: ExperimentOut | None = None


class EvaluateOut(BaseModel):
    features: dict[str, FeatureOut]


class SdkRule(BaseModel):
    """A GrowthBook rule: `force` for a flag rule, `key`/`variations`/`weights` for an
    experiment rule."""

    id: str | None = None
    condition: dict[str, Any] | None = None
    hashAttribute: str
    force: Any = None
    key: str | None = None
    seed: str | None = None
    hashVersion: int | None = None
    variations: list[Any] | None = None
    weights: list[float] | None = None
    coverage: float | None = None
    meta: list[dict[str, str]] | None = None
    phase: str | None = None
    name: str | None = None
    namespace: list[Any] | None = None


class SdkFeature(BaseModel):
    defaultValue: Any
    rules: list[SdkRule]


class SdkPayloadOut(BaseModel):
    features: dict[str, SdkFeature]


@router.get(
    "/api/features/{client_key}",
    summary="Feature payload for the GrowthBook SDKs",
    responses={
        200: {
            "model": SdkPayloadOut,
            "description": 'GrowthBook SDK payload: `{"features": {...}}`',
        },
        404: {"description": "Unknown or revoked client key (problem details)"},
        503: {"description": "The experiments file is invalid (problem details)"},
    },
)
async def sdk_payload(client_key: ClientKey, experiments: ExperimentsDep) -> Response:
    """Every feature in the GrowthBook SDK format: give it to `GrowthBook(features=...)` (or
    point the SDK's `api_host`/`client_key` here) and it evaluates flags and experiments
    locally. Create a key with `shopflow experiments client-key create --env production`."""
    body = await experiments.sdk_payload(client_key)
    return Response(body, media_type="application/json")


@router.post(
    "/api/features/evaluate",
    summary="Evaluate features for a user",
    response_model=EvaluateOut,
    response_model_exclude_none=True,
    responses={
        403: {"description": "A user may evaluate only for their own id (problem details)"},
        404: {"description": "Unknown feature (problem details)"},
        503: {"description": "The experiments file is invalid (problem details)"},
    },
)
async def evaluate(
    body: EvaluateIn, user: CurrentUser, experiments: ExperimentsDep, exposures: ExposuresDep
) -> Response:
    """Each feature's value for the attributes and the experiment that assigned it; an
    exposure is logged once per user and experiment. A service credential evaluates for
    anyone, a user's token for their own `id`."""
    user_id = body.attributes.get("id")
    if not user.can_access(str(user_id) if user_id is not None else ""):
        raise Forbidden("a user may evaluate features only for their own id")
    results = await evaluate_features(experiments, exposures, body.attributes, body.features)
    # serialised here (orjson): the response model documents the body
    return Response(orjson.dumps({"features": {k: r.as_dict() for k, r in results.items()}}),
                    media_type="application/json")  # fmt: skip
