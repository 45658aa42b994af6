"""Domain errors: plain exceptions with no HTTP in them. The web layer maps each class to a
problem-details response in one place (``serving.errors``); consumers and the CLI catch them
like any exception."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every domain error: ``detail`` says what went wrong; ``extra`` holds
    machine-readable fields (ids, limits) that a caller may show."""

    title = "Bad request"
    #: True when the same call may succeed later (an idempotency key is then released).
    retryable = False

    def __init__(self, detail: str, *, retry_after: int | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
        """Seconds after which the same call may pass, when that is known."""
        self.extra = extra


class Invalid(DomainError):
    title = "Invalid request"


class Unauthorized(DomainError):
    """The caller did not prove who they are (no or a bad credential)."""

    title = "Unauthorized"


class Forbidden(DomainError):
    title = "Forbidden"


class NotFound(DomainError):
    title = "Not found"


class Conflict(DomainError):
    title = "Conflict"


class TooLarge(DomainError):
    title = "Content too large"


class RateLimited(DomainError):
    """Too many attempts; ``retry_after`` seconds until the next one may pass."""

    title = "Too many requests"


class Unavailable(DomainError):
    """A dependency (broker, gateway, database) cannot serve now; worth a retry later."""

    title = "Service unavailable"
    retryable = True


class PaymentDeclined(DomainError):
    title = "Payment declined"
