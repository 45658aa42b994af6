"""One example request body per operation that takes a JSON body, shown in ``/docs``
(``serving.docs`` puts each on its operation; tests/serving/test_openapi.py checks that
every body has one and that it passes the operation's own validation)."""

from __future__ import annotations

from typing import Any

_TEMPLATE = {
    "subject": "Order {{ order_id }} confirmed",
    "text": "Thanks for your order {{ order_id }} ({{ total_minor | money(currency) }}).",
    "html": "<p>Thanks for your order {{ order_id }}.</p>",
}

#: (method, path) -> an example request body
EXAMPLES: dict[tuple[str, str], Any] = {
    ("put", "/api/products/{product_id}"): {
        "title": "Blue kettle",
        "description": "1.7 l, stainless steel, boils in three minutes.",
        "category": "kitchen",
        "brand": "Acme",
        "price_minor": 3999,
        "currency": "EUR",
        "stock": 25,
        "attributes": {"color": "blue", "capacity_l": 1.7},
    },
    ("post", "/events"): {
        "event_id": "3f2b8c1e9d4a4f60a1b2c3d4e5f60718",
        "event_type": "product_view",
        "occurred_at": "2026-12-05T09:30:00Z",
        "user_id": "u000042",
        "session_id": "s-9f1c",
        "payload": {"item_id": "i000011"},
    },
    ("post", "/api/features/evaluate"): {
        "attributes": {"id": "u000042", "country": "DE", "app_version": "2.1.0"},
        "features": ["checkout_button"],
    },
    ("post", "/api/orders"): {"lines": [{"product_id": "i000011", "quantity": 2}]},
    ("post", "/api/payments"): {
        "order_id": "ord_5f2c9a",
        "amount_minor": 7998,
        "currency": "EUR",
        "method": "CREDIT_CARD",
        "capture": "automatic",
        "payment_method": "pm_card_visa",
        "billing_address": {
            "line1": "1 Main St",
            "city": "Springfield",
            "postal_code": "12345",
            "country": "US",
        },
        "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
    },
    ("post", "/api/payments/{payment_id}/confirm"): {"return_url": "https://shop.example/paid"},
    ("post", "/api/payments/{payment_id}/cancel"): {"reason": "customer changed their mind"},
    ("post", "/api/payments/{payment_id}/refund"): {"amount_minor": 1000, "reason": "damaged"},
    ("post", "/api/payments/{payment_id}/capture"): {"amount_minor": 5000},
    ("post", "/api/payments/{payment_id}/authenticate"): {
        "token": "3f1c9a0b5d7e4f2a8c6b1d3e5f7a9c0b",
        "result": "approve",
    },
    ("post", "/api/products/{product_id}/reviews"): {
        "rating": 5,
        "title": "Quiet and fast",
        "body": "Boils a full kettle in three minutes.",
        "media_ids": [],
    },
    ("patch", "/api/reviews/{review_id}"): {"rating": 4, "body": "Still good after a month."},
    ("put", "/api/reviews/{review_id}/vote"): {"direction": "up"},
    ("post", "/api/admin/reviews/{review_id}/reject"): {"reason": "Not about the product."},
    ("post", "/api/wishlists"): {"name": "Birthday"},
    ("patch", "/api/wishlists/{wishlist_id}"): {"name": "Christmas"},
    ("post", "/api/wishlists/{wishlist_id}/items"): {"product_id": "i000011"},
    ("post", "/api/notifications/trigger"): {
        "workflow": "promotion",
        "user_id": "u000042",
        "data": {
            "headline": "Spring sale",
            "body": "Everything 20% off this week.",
            "url": "https://shop.example/sale",
        },
    },
    ("put", "/api/notifications/preferences"): {
        "email": "ada@example.com",
        "timezone": "Europe/Berlin",
        "quiet_hours": {"start": "22:00", "end": "07:00"},
        "channels": {"sms": False},
        "categories": {"marketing": False},
    },
    ("post", "/api/notifications/templates/{key}/{channel}"): _TEMPLATE,
    ("post", "/api/notifications/templates/preview"): {
        **_TEMPLATE,
        "channel": "email",
        "key": "order_confirmation",
    },
}
