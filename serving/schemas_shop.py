"""Success bodies of the shop: health, catalog, compare, orders, payments, gateway webhooks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from serving.schemas import Check, Money, Page, Timestamp


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, Check] = Field(description="Per dependency (redis).")
    fallback: dict[str, int | float | None] = Field(
        description="The popularity snapshot served while Redis is down: popular_items, age_s."
    )


class LiveOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready", "unready"]
    failing: list[str] = Field(description="The parts that did not answer (empty when ready).")
    checks: dict[str, Check] = Field(
        description="database, redis, broker, recommendations: ok, ms or error."
    )


class ProductOut(BaseModel):
    id: str
    title: str
    description: str
    category: str
    brand: str
    price_minor: Money
    currency: str
    stock: int
    attributes: dict[str, Any]
    created_at: Timestamp
    updated_at: Timestamp


class ProductPage(Page):
    items: list[ProductOut]


class CompareColumn(BaseModel):
    id: str
    title: str
    price_minor: Money
    currency: str
    in_stock: bool
    rating: dict[str, Any] = Field(description="The product's rating summary.")
    attributes: dict[str, Any] = Field(description="Every compared attribute (null: none).")


class Comparison(BaseModel):
    products: list[CompareColumn]
    attributes: list[str] = Field(description="Attribute names, sorted.")
    differences: list[str] = Field(description="Attributes whose values differ (and `price`).")


class CompareListOut(BaseModel):
    product_ids: list[str]


class CompareListWithComparison(CompareListOut):
    comparison: Comparison | None = Field(description="Once the list holds two products.")


class OrderLineOut(BaseModel):
    product_id: str
    quantity: int
    unit_price_minor: Money


class OrderOut(BaseModel):
    id: str
    user_id: str
    status: Literal["PLACED", "PAID", "CANCELLED", "REFUNDED"]
    total_minor: Money
    currency: str
    lines: list[OrderLineOut]
    created_at: Timestamp
    updated_at: Timestamp


class OrderPage(Page):
    items: list[OrderOut]


class PaymentOut(BaseModel):
    id: str
    order_id: str
    user_id: str
    amount_minor: Money
    currency: str
    method: str
    gateway: str = Field(description="The processor that handled it: stripe, paypal or test.")
    status: str = Field(examples=["COMPLETED"])
    capture: str = Field(description="automatic, or manual (authorize, then capture).")
    authorized_minor: Money = Field(description="Held by a manual-capture authorization.")
    authorization_expires_at: Timestamp | None
    disputed_minor: Money = Field(description="In dispute, or reversed by a lost dispute.")
    transaction_id: str | None
    payment_method: str | None
    card_last4: str | None
    billing_address: dict[str, Any] | None = Field(description="None once the payer was erased.")
    customer: dict[str, Any] | None = Field(description="None once the payer was erased.")
    next_action: dict[str, Any] | None = Field(description="e.g. a redirect for 3-D Secure.")
    failure_reason: str | None
    captured_minor: Money
    refunded_minor: Money = Field(description="Refunded so far, in minor units.")
    created_at: Timestamp
    updated_at: Timestamp


class PaymentPage(Page):
    items: list[PaymentOut]


class LedgerEntryOut(BaseModel):
    seq: int
    kind: str = Field(examples=["refunded"])
    amount_minor: Money
    gateway_ref: str | None
    reason: str | None
    source: str = Field(examples=["api"])
    created_at: Timestamp


class PaymentsHealth(BaseModel):
    status: Literal["ok", "degraded", "down"]
    checks: dict[str, Any] = Field(
        description="database and cache ({ok, error}), gateways ({ok, by_method})."
    )


class WebhookAck(BaseModel):
    received: bool
    duplicate: bool = Field(description="Already processed: acknowledged, nothing changed.")
    payment_id: str | None
    status: str | None = None
