"""Recommendation endpoints: a user's recommendations, similar items, and why an item is
recommended. Handlers validate and call ``serving.recommendations.service``; bodies are
serialized with orjson (the response models document them).

``GET /recommendations/{user_id}`` is the hot path: a fast lane
(``serving.fastlane``, see ``lane``) answers it
ahead of FastAPI's routing, with the endpoint's own parameter rules; whatever the lane does not
take (invalid values) reaches the endpoint below, which answers as always."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.datastructures import State

from commerce.auth import Principal
from commerce.errors import Forbidden
from serving import deps, experiments, fastlane
from serving.deps import CurrentUser, ExperimentsDep, ExposuresDep, OnlineStoreDep, VisitorUser
from serving.experiments import ExperimentsService, ExposureLog
from serving.recommendations import service as recs
from serving.recommendations import snapshot
from serving.recommendations.query import RecQuery
from serving.recommendations.reader import OnlineStore
from shopflow.online_store import keys

router = APIRouter(tags=["recommendations"])

#: Bodies are serialised ahead (orjson, the fast lane): the models document them only.
PREBUILT = "The recommendations (serialised ahead; the model documents them)"
PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or an invalid token or API key (problem details)"},
    403: {"description": "Not yours to read (problem details)"},
    404: {"description": "Unknown item (problem details)"},
    422: {"description": "Invalid parameters (problem details)"},
    503: {
        "description": "Nothing published yet, or the online store is down with no "
        "popularity snapshot in memory (problem details, Retry-After)"
    },
}


class RecommendedItem(BaseModel):
    item_id: str
    score: float = Field(
        description="Score from the first source that proposed the item (6 decimals)."
    )
    title: str | None
    category: str | None
    brand: str | None
    price_minor: int | None = Field(description="Price in minor units of `currency`.")
    currency: str | None = Field(description="ISO 4217 code.")
    sources: list[str] = Field(description="Candidate sources that proposed the item.")


class Recommendations(BaseModel):
    user_id: str
    request_id: str = Field(description="UUID to attach to impression and click events.")
    strategy: str
    variant: str | None = Field(description="Experiment variant, when an experiment chose it.")
    experiment_key: str | None = Field(
        default=None, description="Experiment whose variant chose the strategy (exposure logged)."
    )
    model: str | None = Field(description="Registered model that produced the list.")
    model_version: str | None
    published_version: str
    published_at: str | None
    sources: list[str] = Field(description='Sources of the items, e.g. ["batch"].')
    fallback: bool = Field(description="True when the user had no batch list (popularity).")
    fallback_reason: str | None
    items: list[RecommendedItem]


class SimilarItems(BaseModel):
    item_id: str
    request_id: str
    published_version: str
    sources: list[str]
    fallback: bool
    fallback_reason: str | None
    items: list[RecommendedItem]


class Because(BaseModel):
    item_id: str = Field(description="An item of the user's history.")
    title: str | None
    interaction_weight: float = Field(description="The user's interaction weight with it.")
    similarity: float = Field(description="Similarity of the explained item to it.")


class Explanation(BaseModel):
    user_id: str
    item_id: str
    strategy: str
    model: str | None
    model_version: str | None
    published_version: str
    recommended: bool = Field(description="Whether the item is in the user's list now.")
    filtered_by: str | None = Field(description="Business filter that removes the item, if any.")
    sources: list[str]
    fallback: bool
    batch_rank: int | None
    batch_score: float | None
    popularity_rank: int | None
    popularity_score: float | None
    because: list[Because] = Field(description="History items that have it as a neighbour.")


def _json(body: dict[str, object]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


Limit = Annotated[int, Query(ge=1, le=100, description="How many items (1..100).")]
Strategy = Annotated[
    str,
    Query(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Published strategy: champion or a model type (als, bpr, hybrid...).",
    ),
]


def _exclude(raw: str | None) -> frozenset[str]:
    return frozenset(i for i in (p.strip() for p in (raw or "").split(",")) if i)


@router.get(
    "/recommendations/{user_id}",
    summary="A user's recommendations",
    responses={200: {"model": Recommendations, "description": PREBUILT}, **PROBLEMS},
)
async def get_recommendations(
    store: OnlineStoreDep,
    experiments_svc: ExperimentsDep,
    exposures: ExposuresDep,
    caller: VisitorUser,
    user_id: Annotated[str, Path(min_length=1, max_length=128)],
    limit: Limit = 10,
    category: Annotated[str | None, Query(min_length=1, description="Only this category.")] = None,
    max_per_category: Annotated[
        int | None, Query(ge=1, le=100, description="Diversity cap: items per category.")
    ] = None,
    exclude: Annotated[
        str | None, Query(max_length=4096, description="Comma-separated item ids to leave out.")
    ] = None,
    strategy: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9_.-]+$",
            description="Published strategy; default: the user's experiment variant or champion.",
        ),
    ] = None,
) -> Response:
    """Batch recommendations of the strategy's published model, without items the user bought,
    out-of-stock or blocked items; backfilled from popularity, which also serves users with no
    history (`fallback`: true). While the online store is down, the last popularity list
    this worker read is served (`fallback_reason`: "online store unavailable"). Needs a
    credential that may act for the user: any (a publishable key too) for an anonymous
    visitor (`anon-...`), a user's token for that user, an admin token or a secret key for
    anyone."""
    _check_reader(caller, user_id)
    body = await _recommend(
        store,
        experiments_svc,
        exposures,
        user_id=user_id,
        limit=limit,
        category=category,
        max_per_category=max_per_category,
        exclude=exclude,
        strategy=strategy,
    )
    return _json(body)


def _check_reader(caller: Principal, user_id: str) -> None:
    if not caller.may_act_for(user_id):
        raise Forbidden("you may only read your own or an anonymous visitor's recommendations")


async def _recommend(
    store: OnlineStore,
    experiments_svc: ExperimentsService,
    exposures: ExposureLog,
    *,
    user_id: str,
    limit: int,
    category: str | None,
    max_per_category: int | None,
    exclude: str | None,
    strategy: str | None,
) -> dict[str, object]:
    query = RecQuery(
        user_id=user_id,
        limit=limit,
        strategy=strategy or keys.CHAMPION,
        category=category,
        max_per_category=max_per_category,
        exclude=_exclude(exclude),
    )
    try:
        return await experiments.recommend(
            store, query, experiments_svc, exposures, explicit_strategy=strategy is not None
        )
    except snapshot.STORE_DOWN:
        return snapshot.answer(store.popular_snapshot, query)


async def _recommend_fast(state: State, values: dict[str, Any]) -> bytes:
    """``GET /recommendations/{user_id}`` on the fast lane
    (``serving.fastlane``): the same
    parameters, checked by the endpoint's own fields, and the same body."""
    clients = state.clients
    body = await _recommend(clients.online_store, clients.experiments, clients.exposures, **values)
    return orjson.dumps(body)


async def _authorize_fast(
    state: State, authorization: str | None, values: dict[str, Any]
) -> Principal:
    """The fast lane's ``VisitorUser`` and ``_check_reader``: the endpoint's rule."""
    caller = await deps.lane_visitor(authorization, state.clients.settings)
    _check_reader(caller, values["user_id"])
    return caller


def lane() -> fastlane.Lane:
    """The fast lane of ``GET /recommendations/{user_id}`` (installed by the app's lifespan)."""
    route = next(
        r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is get_recommendations
    )
    provides: set[Callable[..., Any]] = {
        deps.get_online_store,
        deps.get_experiments,
        deps.get_exposures,
        deps.visitor_principal,
    }
    return fastlane.Lane(route, _recommend_fast, frozenset(provides), _authorize_fast)


@router.get(
    "/items/{item_id}/similar",
    summary="Items similar to an item",
    responses={200: {"model": SimilarItems, "description": PREBUILT}, **PROBLEMS},
)
async def get_similar_items(
    store: OnlineStoreDep,
    item_id: Annotated[str, Path(min_length=1, max_length=128)],
    limit: Limit = 10,
) -> Response:
    """The item's published nearest neighbours that are in stock and not blocked."""
    return _json(await recs.similar(store, item_id, limit))


@router.get(
    "/users/{user_id}/recommendations/explain",
    summary="Why an item is recommended to a user",
    responses={
        200: {"model": Explanation, "description": PREBUILT},
        **PROBLEMS,
        401: {"description": "No token"},
        403: {"description": "Not yours"},
    },
)
async def explain_recommendation(
    store: OnlineStoreDep,
    principal: CurrentUser,
    user_id: Annotated[str, Path(min_length=1, max_length=128)],
    item_id: Annotated[str, Query(min_length=1, max_length=128, description="Item to explain.")],
    strategy: Strategy = keys.CHAMPION,
) -> Response:
    """The user's history items that have the item among their neighbours (similarity and the
    user's interaction weight), and its rank in the batch and popular lists. It reveals the
    user's history, so it needs a token of that user, an admin or a service."""
    if not principal.can_access(user_id):
        raise Forbidden("you may only explain your own recommendations")
    return _json(await recs.explain(store, user_id, item_id, strategy))
