"""Reviews and ratings API: submit, edit, list, vote, moderate, upload media."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.datastructures import State

from commerce.errors import Invalid, RateLimited, TooLarge
from commerce.reviews import media as reviews_media
from commerce.reviews import media_store
from commerce.reviews import reads as reviews_reads
from commerce.reviews import service as svc
from commerce.reviews import votes as reviews_votes
from serving import fastlane
from serving.deps import (
    AdminUser,
    CurrentUser,
    OptionalUser,
    RedisDep,
    SettingsDep,
    get_redis,
    get_settings_dep,
)
from serving.locations import locate
from serving.schemas_social import (
    HelpfulOut,
    MediaOut,
    ModeratedReviewOut,
    ModerationPage,
    RatingOut,
    ReviewOut,
    ReviewPage,
)
from shopflow.config import Settings
from shopflow.online_store import keys

router = APIRouter(tags=["reviews"])

ProductId = Annotated[str, Path(min_length=1, max_length=128)]
ReviewId = Annotated[str, Path(min_length=1, max_length=64)]
Title = Annotated[str, StringConstraints(max_length=200)]
Body = Annotated[str, StringConstraints(max_length=5000)]
MediaIds = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=64)]], Field(max_length=6)
]
Rating = Annotated[int, Field(ge=1, le=5, strict=True)]
MULTIPART_OVERHEAD = 64 * 1024
BINARY = {"schema": {"type": "string", "format": "binary"}}
MEDIA: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, in its own content type",
        "content": {t: BINARY for t in media_store.EXTENSIONS},
    }
}


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rating: Rating
    title: Title = ""
    body: Body = ""
    media_ids: MediaIds = []


class ReviewPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rating: Rating | None = None
    title: Title | None = None
    body: Body | None = None
    media_ids: MediaIds | None = None


class VoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    direction: Literal["up", "down"]


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True)]


async def rate_limit(redis: RedisDep, settings: SettingsDep, user_id: str) -> None:
    """Fixed-window limit on review submissions per user."""
    window = settings.review_rate_window_s
    bucket = int(time.time()) // window
    key = keys.review_rate(user_id, bucket)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, window)
        count, _ = await pipe.execute()
    if count > settings.review_rate_limit:
        retry = window - int(time.time()) % window
        raise RateLimited(
            f"at most {settings.review_rate_limit} review submissions per {window} s",
            retry_after=retry,
        )


#: Bodies of the cached reads are JSON built ahead: their models document them only. Review
#: bodies name ``reason`` (and moderators' fields) only where they apply, so the routes
#: answer with ``response_model_exclude_unset``: absent fields stay absent.
PREBUILT = "The body is built (and cached) as JSON before the response: documented here."


@router.post(
    "/api/products/{product_id}/reviews",
    status_code=201,
    summary="Review a product",
    response_model=ReviewOut,
    response_model_exclude_unset=True,
)
async def submit_review(
    product_id: ProductId,
    body: ReviewIn,
    user: CurrentUser,
    redis: RedisDep,
    settings: SettingsDep,
    response: Response,
) -> dict[str, Any]:
    await rate_limit(redis, settings, user.user_id)
    data = svc.ReviewInput(body.rating, body.title, body.body, tuple(body.media_ids))
    review = await run_in_threadpool(svc.submit_review, user.user_id, product_id, data)
    locate(response, "/api/reviews", review["id"])
    return review


@router.patch(
    "/api/reviews/{review_id}",
    summary="Edit your review (back to moderation)",
    response_model=ReviewOut,
    response_model_exclude_unset=True,
)
async def edit_review(
    review_id: ReviewId,
    body: ReviewPatch,
    user: CurrentUser,
    redis: RedisDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    await rate_limit(redis, settings, user.user_id)
    changes = body.model_dump(exclude_unset=True)
    return await run_in_threadpool(svc.edit_review, user, review_id, changes)


@router.delete("/api/reviews/{review_id}", status_code=204, summary="Remove a review")
def remove_review(review_id: ReviewId, user: CurrentUser) -> Response:
    svc.remove_review(user, review_id)
    return Response(status_code=204)


@router.get(
    "/api/reviews/{review_id}",
    summary="One review (with its spam verdict for admins)",
    response_model=ModeratedReviewOut,  # the moderators' fields are absent for everyone else
    response_model_exclude_unset=True,
)
def get_review(review_id: ReviewId, user: OptionalUser) -> dict[str, Any]:
    return svc.review_for(user, review_id)


@router.get(
    "/api/products/{product_id}/reviews",
    summary="Approved reviews of a product",
    responses={200: {"model": ReviewPage, "description": PREBUILT}},
)
async def list_reviews(
    product_id: ProductId,
    redis: RedisDep,
    stars: Annotated[list[Annotated[int, Field(ge=1, le=5)]] | None, Query()] = None,
    verified: bool = False,
    with_media: bool = False,
    sort: Literal["newest", "helpful", "rating_desc", "rating_asc"] = "newest",
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> Response:
    body = await _reviews_page(redis, product_id, stars, verified, with_media, sort, cursor, limit)
    return Response(body, media_type="application/json")


async def _reviews_page(
    redis: Any,
    product_id: str,
    stars: list[int] | None,
    verified: bool,
    with_media: bool,
    sort: str,
    cursor: str | None,
    limit: int,
) -> bytes:
    if not (stars or verified or with_media or cursor):  # a first page: served from the cache
        return await reviews_reads.first_page(redis, product_id, sort, limit)
    page = await run_in_threadpool(
        lambda: reviews_reads.product_reviews_page(
            product_id,
            stars=stars,
            verified_only=verified,
            with_media=with_media,
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
    )
    return page.encode()


async def _reviews_fast(state: State, values: dict[str, Any]) -> bytes:
    """``GET /api/products/{product_id}/reviews`` on the fast lane: the same body."""
    return await _reviews_page(state.clients.redis, **values)


def reviews_lane() -> fastlane.Lane:
    """The fast lane of a product's review listing (product pages show its first page)."""
    route = next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is list_reviews)
    return fastlane.Lane(route, _reviews_fast, frozenset({get_redis}))


@router.get(
    "/api/products/{product_id}/rating",
    summary="Rating aggregate of a product",
    responses={200: {"model": RatingOut, "description": PREBUILT}},
)
async def get_rating(product_id: ProductId, redis: RedisDep, settings: SettingsDep) -> Response:
    return Response(await _rating(redis, settings, product_id), media_type="application/json")


async def _rating(redis: Any, settings: Settings, product_id: str) -> bytes:
    return await reviews_reads.rating_body(redis, product_id, settings.review_bayes_prior_weight)


async def _rating_fast(state: State, values: dict[str, Any]) -> bytes:
    """``GET /api/products/{product_id}/rating`` on the fast lane: the same body."""
    clients = state.clients
    return await _rating(clients.redis, clients.settings, values["product_id"])


def rating_lane() -> fastlane.Lane:
    """The fast lane of the rating (a storefront's product pages ask it on every view)."""
    route = next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is get_rating)
    return fastlane.Lane(route, _rating_fast, frozenset({get_redis, get_settings_dep}))


@router.put(
    "/api/reviews/{review_id}/vote",
    summary="Vote a review helpful (up) or not",
    response_model=HelpfulOut,
)
def vote(review_id: ReviewId, body: VoteIn, user: CurrentUser) -> dict[str, Any]:
    return reviews_votes.vote_helpful(review_id, user.user_id, body.direction)


@router.delete(
    "/api/reviews/{review_id}/vote", summary="Withdraw your vote", response_model=HelpfulOut
)
def unvote(review_id: ReviewId, user: CurrentUser) -> dict[str, Any]:
    return reviews_votes.withdraw_vote(review_id, user.user_id)


# ---- moderation ------------------------------------------------------------------------------
@router.get(
    "/api/admin/reviews",
    summary="Moderation queue (oldest first)",
    response_model=ModerationPage,
    response_model_exclude_unset=True,
)
def moderation_queue(
    _: AdminUser,
    status: Annotated[
        list[Literal["PENDING", "FLAGGED", "APPROVED", "REJECTED", "REMOVED"]] | None, Query()
    ] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> dict[str, Any]:
    return reviews_reads.moderation_queue_page(tuple(status) if status else None, cursor, limit)


@router.post(
    "/api/admin/reviews/{review_id}/approve",
    summary="Approve a review",
    response_model=ModeratedReviewOut,
    response_model_exclude_unset=True,
)
def approve(review_id: ReviewId, admin: AdminUser) -> dict[str, Any]:
    return svc.approve_review(admin, review_id)


@router.post(
    "/api/admin/reviews/{review_id}/reject",
    summary="Reject a review with a reason",
    response_model=ModeratedReviewOut,
    response_model_exclude_unset=True,
)
def reject(review_id: ReviewId, body: RejectIn, admin: AdminUser) -> dict[str, Any]:
    return svc.reject_review(admin, review_id, body.reason)


# ---- media ----------------------------------------------------------------------------------
@router.post(
    "/api/media",
    status_code=201,
    summary="Upload a review image or short video",
    response_model=MediaOut,
)
async def upload_media(
    request: Request, user: CurrentUser, settings: SettingsDep, response: Response
) -> Any:
    """Send the file as `multipart/form-data` in the field `file` (e.g. `curl -F
    file=@photo.jpg`); the form is read here, within the size limit, so it is not described
    as a request body."""
    limit = max(settings.media_max_image_bytes, settings.media_max_video_bytes)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise TooLarge(f"file is larger than {limit} bytes", limit_bytes=limit)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Invalid("send the file as multipart/form-data in the field 'file'")
    async with request.form(max_files=1, max_fields=4) as form:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid("send the file as multipart/form-data in the field 'file'")
        data = await upload.read(limit + 1)
        filename = upload.filename

    media = await run_in_threadpool(reviews_media.save_upload, user.user_id, filename, data)
    locate(response, "/api/media", media["id"])
    return media


def _media(media_id: str, user: Any, thumbnail: bool) -> Response:
    data, content_type = reviews_media.read_for_viewer(
        media_id, user.user_id if user else None, bool(user and user.is_admin), thumbnail
    )
    return Response(
        data,
        media_type=content_type,
        headers={"X-Content-Type-Options": "nosniff", "Content-Disposition": "inline"},
    )


@router.get(
    "/api/media/{media_id}", summary="A media file", response_class=Response, responses=MEDIA
)
def get_media(media_id: ReviewId, user: OptionalUser) -> Response:
    return _media(media_id, user, False)


@router.get(
    "/api/media/{media_id}/thumbnail",
    summary="A media thumbnail (JPEG)",
    response_class=Response,
    responses={200: {"description": "The thumbnail", "content": {"image/jpeg": BINARY}}},
)
def get_thumbnail(media_id: ReviewId, user: OptionalUser) -> Response:
    return _media(media_id, user, True)
