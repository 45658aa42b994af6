"""The API's guards, installed around the whole app (``install``): security headers, CORS,
the audit log of admin and service requests, and rate limits."""

from __future__ import annotations

from fastapi import FastAPI

from serving.security.audit import AuditMiddleware
from serving.security.cors import CORS
from serving.security.headers import SecurityHeadersMiddleware
from serving.security.ratelimit import RateLimitMiddleware
from shopflow.config import Settings

CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-API-Key"]


def install(app: FastAPI, settings: Settings) -> None:
    """Outermost first: headers (on every answer, 429s and preflights too), CORS (so a browser
    can read a 429), audit (throttled admin requests are recorded too), rate limits."""
    app.add_middleware(RateLimitMiddleware)
    app.add_middleware(AuditMiddleware)
    app.add_middleware(
        CORS,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=CORS_HEADERS,
        expose_headers=["Retry-After", "Location"],
        max_age=600,
    )
    app.add_middleware(SecurityHeadersMiddleware, hsts_max_age_s=settings.hsts_max_age_s)
