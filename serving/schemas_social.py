"""Success bodies of reviews, media, wishlists, notifications and privacy requests."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from serving.schemas import CursorPage, Money, Timestamp


# ---- reviews and media ---------------------------------------------------------------------
class MediaOut(BaseModel):
    id: str
    kind: str = Field(examples=["image"])
    content_type: str
    size_bytes: int
    width: int | None
    height: int | None
    duration_s: float | None
    url: str
    thumbnail_url: str | None


class HelpfulOut(BaseModel):
    up: int
    down: int
    score: float = Field(description="Wilson lower bound of the helpful share.")


class ReviewOut(BaseModel):
    id: str
    product_id: str
    user_id: str
    rating: int = Field(ge=1, le=5)
    title: str
    body: str
    verified_purchase: bool
    status: str = Field(examples=["APPROVED"])
    helpful: HelpfulOut
    media: list[MediaOut]
    image_links: list[str] = Field(
        default_factory=list, description="Image URLs of an imported review (kept as links)."
    )
    created_at: Timestamp
    updated_at: Timestamp
    reason: str | None = Field(None, description="Why it was rejected (rejected reviews only).")


class ModeratedReviewOut(ReviewOut):
    """A review as moderators see it: with its spam scores and rule hits."""

    model_config = ConfigDict(extra="allow")
    spam_score: float | None = None
    classifier_score: float | None = None
    rule_hits: list[str] | None = None
    spam_model_version: str | None = Field(
        None, description="The classifier version that judged it (none: the rules alone)."
    )
    moderated_by: str | None = None


class ReviewPage(CursorPage):
    items: list[ReviewOut]


class ModerationPage(CursorPage):
    items: list[ModeratedReviewOut]


class RatingOut(BaseModel):
    product_id: str
    count: int
    mean: float | None
    distribution: dict[str, int] = Field(description="Stars ('1'..'5') -> count.")
    bayesian_average: float | None
    prior_mean: float | None = Field(description="The catalog's mean rating.")
    prior_weight: float


# ---- wishlists -----------------------------------------------------------------------------
class WishlistItemOut(BaseModel):
    product_id: str
    title: str | None = Field(description="None once the product left the catalog.")
    price_at_add_minor: Money
    current_price_minor: Money | None
    currency: str
    in_stock: bool
    added_at: Timestamp


class SharedWishlistOut(BaseModel):
    """The public view of a shared wishlist: no owner, no share token."""

    id: str
    name: str
    items: list[WishlistItemOut]


class WishlistOut(SharedWishlistOut):
    user_id: str
    shared: bool
    share_token: str | None
    share_url: str | None = Field(description="The public, read-only URL while shared.")
    created_at: Timestamp
    updated_at: Timestamp


class WishlistsOut(BaseModel):
    items: list[WishlistOut]


# ---- notifications -------------------------------------------------------------------------
class DeliveryOut(BaseModel):
    id: str
    channel: str
    status: str = Field(examples=["sent"])
    reason: str | None
    provider: str | None
    provider_message_id: str | None
    attempts: int
    last_error: str | None
    not_before: Timestamp | None
    template_version: int | None
    subject: str | None
    body: str | None
    sent_at: Timestamp | None
    delivered_at: Timestamp | None
    updated_at: Timestamp | None


class NotificationOut(BaseModel):
    id: str | None = Field(description="None when the workflow sent nothing.")
    user_id: str | None = None
    workflow: str | None = None
    category: str | None = None
    source_id: str | None = None
    suppressed: bool | None = None
    created_at: Timestamp | None = None
    deliveries: list[DeliveryOut]


class NotificationsOut(BaseModel):
    items: list[NotificationOut]


class TemplateOut(BaseModel):
    key: str
    channel: str
    version: int
    active: bool
    subject: str | None
    text: str
    html: str | None
    created_by: str | None
    created_at: Timestamp | None


class TemplatesOut(BaseModel):
    items: list[TemplateOut]


class TemplateVersionsOut(BaseModel):
    key: str
    channel: str
    versions: list[TemplateOut]


class RenderedOut(BaseModel):
    subject: str | None
    text: str
    html: str | None


class DeliveryStats(BaseModel):
    model_config = ConfigDict(extra="allow")  # one count per delivery status
    workflow: str
    channel: str
    total: int
    attempts: int
    delivery_rate: float | None = Field(description="delivered / (delivered + failed + ...)")


class StatsOut(BaseModel):
    items: list[DeliveryStats]


# ---- privacy -------------------------------------------------------------------------------
class UserExport(BaseModel):
    """Everything held about a user (GDPR articles 15 and 20), one section per store."""

    model_config = ConfigDict(extra="allow")
    format: str
    user_id: str
    generated_at: Timestamp


class ErasureRequestOut(BaseModel):
    id: str
    user_id: str
    requested_by: str
    status: str = Field(examples=["pipeline_pending"])
    steps: list[str] = Field(description="Steps done so far.")
    summary: dict[str, int] = Field(description="Rows erased per step.")
    created_at: Timestamp
    updated_at: Timestamp
    finished_at: Timestamp | None
