"""Feature flags: the GrowthBook SDK payload by client key, and server-side evaluation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import State

from commerce.auth import Principal
from commerce.errors import Forbidden
from serving import deps, fastlane
from serving.deps import CurrentUser, ExperimentsDep, ExposuresDep
from serving.experiments import ExperimentsService, ExposureLog, evaluate_features

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
    _check_subject(user, body)
    return Response(await _evaluate(experiments, exposures, body), media_type="application/json")


def _check_subject(user: Principal, body: EvaluateIn) -> None:
    user_id = body.attributes.get("id")
    if not user.can_access(str(user_id) if user_id is not None else ""):
        raise Forbidden("a user may evaluate features only for their own id")


async def _evaluate(
    experiments: ExperimentsService, exposures: ExposureLog, body: EvaluateIn
) -> bytes:
    """The answer's JSON (orjson here: the response model documents the body)."""
    results = await evaluate_features(experiments, exposures, body.attributes, body.features)
    return orjson.dumps({"features": {k: r.as_dict() for k, r in results.items()}})


async def _evaluate_fast(state: State, values: dict[str, Any]) -> bytes:
    """``POST /api/features/evaluate`` on the fast lane (``serving.fastlane``)."""
    clients = state.clients
    return await _evaluate(clients.experiments, clients.exposures, values["body"])


async def _authorize_fast(
    state: State, authorization: str | None, values: dict[str, Any]
) -> Principal:
    """The fast lane's ``CurrentUser`` and the own-id rule: the endpoint's checks."""
    caller = await deps.current_principal(
        await deps.lane_visitor(authorization, state.clients.settings)
    )
    _check_subject(caller, values["body"])
    return caller


def lane() -> fastlane.Lane:
    """The fast lane of ``POST /api/features/evaluate`` (installed by the app's lifespan)."""
    route = next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is evaluate)
    provides: set[Callable[..., Any]] = {
        deps.get_experiments,
        deps.get_exposures,
        deps.current_principal,
    }
    return fastlane.Lane(route, _evaluate_fast, frozenset(provides), _authorize_fast)
