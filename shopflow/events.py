"""The event contract: one envelope, one pydantic model per event type.

Everything else is derived from these models, never written twice:
the JSON Schema (``json_schema``), the landing Parquet schema (``arrow_schema``) and the
vectorised contract checks used when landing rows into the warehouse (``contract_checks``).

A landing row is the envelope's columns followed by the payload's fields, flattened.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import annotated_types
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from shopflow import currency, ids

SCHEMA_VERSION = 1

Id = Annotated[str, Field(min_length=1, max_length=128)]
Money = Annotated[int, Field(ge=0, description="Integer minor units (cents).")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")]
Quantity = Annotated[int, Field(ge=1, le=10_000)]

#: Every ISO 4217 currency in legal tender (its home: ``shopflow.currency``).
SUPPORTED_CURRENCIES = currency.CODES


class TrafficSource(StrEnum):
    direct = "direct"
    search = "search"
    email = "email"
    social = "social"
    ads = "ads"


class Device(StrEnum):
    desktop = "desktop"
    mobile = "mobile"
    tablet = "tablet"


class PaymentMethod(StrEnum):
    STRIPE = "STRIPE"
    PAYPAL = "PAYPAL"
    CREDIT_CARD = "CREDIT_CARD"
    DEBIT_CARD = "DEBIT_CARD"
    BANK_TRANSFER = "BANK_TRANSFER"


class RowCheck(typing.NamedTuple):
    """A rule across a payload's fields, written once in both forms: ``sql``, a predicate true
    for a bad raw row (the warehouse load quarantines it with ``reason``), and ``bad``, the
    same test on a payload (the contract rejects it)."""

    sql: str
    reason: str
    bad: Callable[[Any], bool]


#: ``json_schema_extra`` of a payload field holding personal data: it travels on the bus to
#: the services that need it (in memory) but never lands: no landing column, no warehouse.
PII: dict[str, Any] = {"pii": True}


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Rules across fields; ``contract_checks`` adds their SQL, ``RowChecked`` their test.
    ROW_CHECKS: ClassVar[tuple[RowCheck, ...]] = ()


class RowChecked(Payload):
    """A payload whose ``ROW_CHECKS`` are enforced on validation (a separate base, so that
    payloads without such rules pay nothing on the hot path)."""

    @model_validator(mode="after")
    def _row_checks(self) -> typing.Self:
        for check in self.ROW_CHECKS:
            if check.bad(self):
                raise ValueError(check.reason)
        return self


class OrderLine(Payload):
    item_id: Id
    quantity: Quantity
    unit_price_minor: Money


# ---- behaviour payloads -----------------------------------------------------------------
class SessionStart(Payload):
    traffic_source: TrafficSource
    device: Device


class ProductView(Payload):
    item_id: Id
    rec_request_id: str | None = None


class Search(Payload):
    query: Annotated[str, Field(min_length=1, max_length=512)]
    results_count: Annotated[int, Field(ge=0)]


class AddToCart(Payload):
    item_id: Id
    quantity: Quantity
    unit_price_minor: Money
    currency: Currency


class RemoveFromCart(Payload):
    item_id: Id
    quantity: Quantity


class CheckoutStarted(Payload):
    cart_value_minor: Money
    currency: Currency
    item_count: Annotated[int, Field(ge=1)]


class WishlistAdd(Payload):
    item_id: Id
    wishlist_id: Id
    price_minor: Money
    currency: Currency


class WishlistRemove(Payload):
    item_id: Id
    wishlist_id: Id


class RecImpression(Payload):
    request_id: Id
    item_ids: list[str]
    model_name: str
    model_version: str
    placement: str = "home"
    experiment_key: str | None = None
    variant: str | None = None


class RecClick(Payload):
    request_id: Id
    item_id: Id
    position: Annotated[int, Field(ge=0)]
    model_version: str
    experiment_key: str | None = None
    variant: str | None = None


Score = Annotated[float, Field(allow_inf_nan=False)]


class Rating(RowChecked):
    """Explicit feedback: a user's rating of an item, on the scale it was given on.

    The event carries its own scale and positive threshold (as imported), so ratings from
    different sources keep their meaning: a rating below ``positive_threshold`` is a dislike.
    Half stars and other fractions are valid anywhere on ``[scale_min, scale_max]``.
    """

    item_id: Id
    rating: Score
    scale_min: Score
    scale_max: Score
    positive_threshold: Score

    ROW_CHECKS: ClassVar[tuple[RowCheck, ...]] = (
        RowCheck(
            "scale_min >= scale_max",
            "empty rating scale",
            lambda p: p.scale_min >= p.scale_max,
        ),
        RowCheck(
            "rating < scale_min OR rating > scale_max",
            "rating outside its scale",
            lambda p: not p.scale_min <= p.rating <= p.scale_max,
        ),
        RowCheck(
            "positive_threshold < scale_min OR positive_threshold > scale_max",
            "positive_threshold outside the scale",
            lambda p: not p.scale_min <= p.positive_threshold <= p.scale_max,
        ),
    )


# ---- commerce payloads ------------------------------------------------------------------
class UserRegistered(Payload):
    country: Annotated[str, Field(min_length=2, max_length=2)]
    email: str | None = Field(default=None, json_schema_extra=PII)


class ProductUpserted(Payload):
    item_id: Id
    title: Annotated[str, Field(min_length=1)]
    description: str = ""
    category: Annotated[str, Field(min_length=1, description="Leaf category name.")]
    category_path: str = Field(default="", description="Root-to-leaf path joined by ' > '.")
    brand: str = ""
    price_minor: Money
    currency: Currency
    stock: Annotated[int, Field(ge=0)]


class ProductPriceChanged(Payload):
    item_id: Id
    old_price_minor: Money
    new_price_minor: Money
    currency: Currency


class ProductStockChanged(Payload):
    item_id: Id
    old_stock: Annotated[int, Field(ge=0)]
    new_stock: Annotated[int, Field(ge=0)]


class OrderPlaced(Payload):
    order_id: Id
    lines: Annotated[list[OrderLine], Field(min_length=1)]
    total_minor: Money
    currency: Currency


class OrderStatusChanged(Payload):
    order_id: Id
    total_minor: Money
    currency: Currency


class PaymentEvent(Payload):
    """``amount_minor`` is the payment's amount on every event; on ``payment.refunded``,
    ``refund_minor`` is this refund's amount and ``refunded_minor`` the total refunded;
    ``disputed_minor`` is the amount in dispute (or reversed, on a lost dispute's close)."""

    payment_id: Id
    order_id: Id
    amount_minor: Money
    currency: Currency
    method: PaymentMethod
    gateway: str
    status: str
    failure_reason: str | None = None
    refunded_minor: Annotated[int, Field(ge=0)] = 0
    refund_minor: Annotated[int, Field(ge=0)] = 0
    authorized_minor: Annotated[int, Field(ge=0)] = 0
    captured_minor: Annotated[int, Field(ge=0)] = 0
    disputed_minor: Annotated[int, Field(ge=0)] = 0

    @field_validator("authorized_minor", "captured_minor", "disputed_minor", mode="before")
    @classmethod
    def _absent_is_zero(cls, value: Any) -> Any:
        """Rows landed before these amounts existed (or written without them) carry null."""
        return 0 if value is None else value


class GatewayReport(Payload):
    """What a processor's verified webhook said about a payment (``payment.gateway_reported``),
    whether or not it changed the ledger: the other side of the reconciliation. ``kind``:
    captured, authorized, refunded, disputed, dispute_won or dispute_lost; ``cumulative``: the
    amount is the processor's running total (Stripe's ``amount_refunded``) rather than this
    event's own amount (PayPal's refund)."""

    payment_id: Id
    order_id: Id
    gateway: str
    kind: str
    amount_minor: Money
    currency: Currency
    cumulative: bool = False
    gateway_event_id: Id
    gateway_event_type: str


class ReviewEvent(Payload):
    review_id: Id
    item_id: Id
    rating: Annotated[int, Field(ge=1, le=5)]
    title: str = ""
    body: str = ""
    verified_purchase: bool = False
    reason: str | None = None
    spam_score: float | None = None


class WishlistAlert(Payload):
    item_id: Id
    title: str = Field("", description="The product's title when the alert was made.")
    wishlist_id: Id
    price_at_add_minor: Money
    current_price_minor: Money
    currency: Currency


class NotificationEvent(Payload):
    """A notification delivery changed status (one message, one channel)."""

    notification_id: Id
    delivery_id: Id
    workflow: Id
    category: str
    channel: str
    provider: str = ""
    provider_message_id: str | None = None
    attempts: Annotated[int, Field(ge=0)] = 0
    error: str | None = None
    dead_letter: bool = False


# ---- the registry ------------------------------------------------------------------------
#: event_type -> payload model. Behaviour events first, then commerce events.
PAYLOADS: dict[str, type[Payload]] = {
    "session_start": SessionStart,
    "product_view": ProductView,
    "search": Search,
    "add_to_cart": AddToCart,
    "remove_from_cart": RemoveFromCart,
    "checkout_started": CheckoutStarted,
    "wishlist_add": WishlistAdd,
    "wishlist_remove": WishlistRemove,
    "rec_impression": RecImpression,
    "rec_click": RecClick,
    "user.registered": UserRegistered,
    "product.upserted": ProductUpserted,
    "product.price_changed": ProductPriceChanged,
    "product.stock_changed": ProductStockChanged,
    "order_placed": OrderPlaced,
    "order_paid": OrderStatusChanged,
    "order_cancelled": OrderStatusChanged,
    "order_refunded": OrderStatusChanged,
    "payment.created": PaymentEvent,
    "payment.processing": PaymentEvent,
    "payment.completed": PaymentEvent,
    "payment.failed": PaymentEvent,
    "payment.cancelled": PaymentEvent,
    "payment.refunded": PaymentEvent,
    "payment.authorized": PaymentEvent,
    "payment.captured": PaymentEvent,
    "payment.released": PaymentEvent,
    "payment.dispute_opened": PaymentEvent,
    "payment.dispute_closed": PaymentEvent,
    "payment.gateway_reported": GatewayReport,
    "review.submitted": ReviewEvent,
    "review.approved": ReviewEvent,
    "review.rejected": ReviewEvent,
    "review.flagged": ReviewEvent,
    "review.removed": ReviewEvent,
    "wishlist.price_drop": WishlistAlert,
    "wishlist.back_in_stock": WishlistAlert,
    "notification.sent": NotificationEvent,
    "notification.delivered": NotificationEvent,
    "notification.failed": NotificationEvent,
    "notification.bounced": NotificationEvent,
    "rating": Rating,
}

BEHAVIOUR_EVENTS: tuple[str, ...] = (
    "session_start",
    "product_view",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "checkout_started",
    "wishlist_add",
    "wishlist_remove",
    "rec_impression",
    "rec_click",
    "rating",
)
COMMERCE_EVENTS: tuple[str, ...] = tuple(t for t in PAYLOADS if t not in BEHAVIOUR_EVENTS)

#: Weight of each event type in the interaction matrix (fct_interactions is built from these).
INTERACTION_WEIGHTS: dict[str, float] = {
    "product_view": 1.0,
    "rec_click": 2.0,
    "wishlist_add": 3.0,
    "add_to_cart": 4.0,
    "purchase": 8.0,
}


class Envelope(BaseModel):
    """Common fields of every event. ``payload`` is typed per ``event_type``."""

    model_config = ConfigDict(extra="forbid")

    ENVELOPE_FIELDS: ClassVar[tuple[str, ...]] = (
        "event_id",
        "event_type",
        "schema_version",
        "occurred_at",
        "user_id",
        "session_id",
    )

    event_id: Id = Field(default_factory=ids.uuid4_hex)
    event_type: str
    schema_version: int = SCHEMA_VERSION
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    user_id: str | None = None
    session_id: str | None = None
    payload: Payload

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must carry a time zone (UTC)")
        return value.astimezone(UTC)

    def to_row(self) -> dict[str, Any]:
        """The flattened landing row: envelope columns then payload fields."""
        row = self.model_dump(mode="python", exclude={"payload"})
        row.update(self.payload.model_dump(mode="python", exclude=set(pii_fields(self.event_type))))
        for key, value in row.items():
            if isinstance(value, StrEnum):
                row[key] = value.value
        return row


def _event_model(event_type: str, payload: type[Payload]) -> type[Envelope]:
    name = "".join(part.title() for part in event_type.replace(".", "_").split("_")) + "Event"
    return typing.cast(
        type[Envelope],
        type(
            name,
            (Envelope,),
            {
                "__annotations__": {"event_type": Literal[event_type], "payload": payload},
                "__module__": __name__,
            },
        ),
    )


EVENT_MODELS: dict[str, type[Envelope]] = {t: _event_model(t, p) for t, p in PAYLOADS.items()}
_PII_FIELDS: dict[str, frozenset[str]] = {
    t: frozenset(
        name
        for name, field in p.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("pii")
    )
    for t, p in PAYLOADS.items()
}

if typing.TYPE_CHECKING:
    AnyEvent = Envelope  # the union below is built at run time; a checker sees the base
else:
    AnyEvent = Annotated[Union[tuple(EVENT_MODELS.values())], Field(discriminator="event_type")]  # noqa: UP007
_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyEvent)


def parse_event(data: dict[str, Any] | str | bytes) -> Envelope:
    """Validate one event (dict or JSON). Raises ``pydantic.ValidationError``."""
    if isinstance(data, str | bytes):
        return typing.cast(Envelope, _ADAPTER.validate_json(data))
    return typing.cast(Envelope, _ADAPTER.validate_python(data))


def make_event(event_type: str, payload: dict[str, Any] | Payload, **envelope: Any) -> Envelope:
    """Build a validated event of ``event_type``."""
    model = EVENT_MODELS.get(event_type)
    if model is None:
        raise ValueError(f"unknown event type {event_type!r}")
    return model(event_type=event_type, payload=payload, **envelope)


def json_schema() -> dict[str, Any]:
    """JSON Schema of the whole contract (a discriminated union over ``event_type``)."""
    return _ADAPTER.json_schema()


def pii_fields(event_type: str) -> frozenset[str]:
    """Payload fields of an event type marked ``PII`` (left out of landing rows)."""
    return _PII_FIELDS.get(event_type, frozenset())


def table_name(event_type: str) -> str:
    """Warehouse raw table / landing folder name of an event type."""
    return event_type.replace(".", "_")


# ---- Parquet schema derived from the models ----------------------------------------------
def _unwrap(annotation: Any) -> tuple[Any, bool, list[Any]]:
    """(base type, nullable, constraint metadata) of an annotation."""
    nullable = False
    metadata: list[Any] = []
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            args = get_args(annotation)
            annotation = args[0]
            for meta in args[1:]:
                metadata.extend(getattr(meta, "metadata", []) or [meta])
            continue
        if origin in (Union, types.UnionType):
            args = tuple(a for a in get_args(annotation) if a is not type(None))
            nullable = nullable or len(args) < len(get_args(annotation))
            annotation = args[0]
            continue
        return annotation, nullable, metadata


def _arrow_type(annotation: Any) -> pa.DataType:
    base, _, _ = _unwrap(annotation)
    origin = get_origin(base)
    if origin is list:
        return pa.list_(_arrow_type(get_args(base)[0]))
    if origin is Literal or (isinstance(base, type) and issubclass(base, StrEnum | str)):
        return pa.string()
    if base is bool:
        return pa.bool_()
    if base is int:
        return pa.int64()
    if base is float:
        return pa.float64()
    if base is datetime:
        return pa.timestamp("us", tz="UTC")
    if base is date:
        return pa.date32()
    if isinstance(base, type) and issubclass(base, BaseModel):
        return pa.struct(
            [pa.field(n, _arrow_type(f.annotation)) for n, f in base.model_fields.items()]
        )
    raise TypeError(f"no Arrow type for {annotation!r}")


def _fields(event_type: str) -> list[tuple[str, Any, bool]]:
    """(name, annotation, required) for every landing column of an event type."""
    envelope = [
        (name, Envelope.model_fields[name].annotation, name not in ("user_id", "session_id"))
        for name in Envelope.ENVELOPE_FIELDS
    ]
    payload = [
        (name, field.rebuild_annotation(), field.is_required())
        for name, field in PAYLOADS[event_type].model_fields.items()
        if name not in pii_fields(event_type)
    ]
    return envelope + payload


def arrow_schema(event_type: str) -> pa.Schema:
    """Landing Parquet schema of one event type."""
    return pa.schema(
        [
            pa.field(name, _arrow_type(ann), nullable=not required or _unwrap(ann)[1])
            for name, ann, required in _fields(event_type)
        ]
    )


def contract_checks(event_type: str) -> list[tuple[str, str]]:
    """Vectorisable checks ``(sql_predicate_that_fails, reason)`` derived from the model.

    Each predicate is true for a row that breaks the contract. Used by the landing step.
    """
    checks: list[tuple[str, str]] = [
        ("event_type IS DISTINCT FROM " + _sql_literal(event_type), "event_type mismatch"),
        (f"schema_version IS DISTINCT FROM {SCHEMA_VERSION}", "unsupported schema_version"),
        ("occurred_at > now() + INTERVAL 1 DAY", "occurred_at in the future"),
    ]
    for name, ann, required in _fields(event_type):
        base, nullable, metadata = _unwrap(ann)
        col = f'"{name}"'
        if required and not nullable:
            checks.append((f"{col} IS NULL", f"{name} is missing"))
        if (
            base is str
            and name in ("event_id",)
            or (base is str and any(isinstance(m, annotated_types.MinLen) for m in metadata))
        ):
            checks.append((f"length({col}) = 0", f"{name} is empty"))
        for meta in metadata:
            if isinstance(meta, annotated_types.Ge):
                checks.append((f"{col} < {meta.ge}", f"{name} below {meta.ge}"))
            elif isinstance(meta, annotated_types.Gt):
                checks.append((f"{col} <= {meta.gt}", f"{name} not above {meta.gt}"))
            elif isinstance(meta, annotated_types.Le):
                checks.append((f"{col} > {meta.le}", f"{name} above {meta.le}"))
        if isinstance(base, type) and issubclass(base, StrEnum):
            allowed = ", ".join(_sql_literal(v.value) for v in base)
            checks.append((f"{col} NOT IN ({allowed})", f"{name} not one of {allowed}"))
        if name == "currency":
            allowed = ", ".join(_sql_literal(c) for c in sorted(SUPPORTED_CURRENCIES))
            checks.append((f"{col} NOT IN ({allowed})", "unsupported currency"))
    return checks + [(check.sql, check.reason) for check in PAYLOADS[event_type].ROW_CHECKS]


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
