"""Helpers shared by the commerce services: ids, money fields, retried transactions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from commerce.db import session_scope
from commerce.db.writer import sqlite_writer
from commerce.errors import Conflict, DomainError
from commerce.idempotency import Once
from commerce.payments.gateways.card_data import find_card_data
from shopflow import ids
from shopflow.events import SUPPORTED_CURRENCIES

T = TypeVar("T")

#: Largest amount accepted anywhere (minor units): 100 million in major units.
MAX_AMOUNT_MINOR = 10_000_000_000


def _known_currency(value: str) -> str:
    if value not in SUPPORTED_CURRENCIES:
        raise ValueError(
            f"unsupported currency; use one of {', '.join(sorted(SUPPORTED_CURRENCIES))}"
        )
    return value


CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(_known_currency)]
AmountMinor = Annotated[int, Field(ge=1, le=MAX_AMOUNT_MINOR, strict=True)]
PriceMinor = Annotated[int, Field(ge=0, le=MAX_AMOUNT_MINOR, strict=True)]
EntityId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class RequestModel(BaseModel):
    """A request body: unknown fields are refused and card data is rejected outright."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_card_data(cls, data: Any) -> Any:
        where = find_card_data(data)
        if where:
            raise ValueError(
                f"card data is not accepted (field {where}); send a payment-method token"
            )
        return data


def new_id(prefix: str) -> str:
    return f"{prefix}_{ids.uuid4_hex()}"


def transact(
    work: Callable[[Session], T],
    attempts: int = 8,
    *,
    once: Once | None = None,
    fail: Callable[[T], DomainError | None] | None = None,
) -> T:
    """Run ``work`` in one transaction, retrying when a concurrent writer won a unique or
    compare-and-set race (the retry re-reads and re-checks, so it may raise a 409).

    With ``once`` (``commerce.idempotency.run_once``) the transaction claims the idempotency
    key first and stores the response last. ``fail`` maps the committed result to a 4xx to
    raise after the commit (e.g. a recorded decline), stored as the key's response."""
    last: Exception | None = None
    for _ in range(attempts):
        try:
            with sqlite_writer(), session_scope() as session:
                if once is not None:
                    once.claim(session)
                result = work(session)
                error = fail(result) if fail is not None else None
                if once is not None:
                    once.complete(session, result, error)
            if error is not None:
                raise error
            return result
        except (IntegrityError, StaleWrite) as exc:
            last = exc
        except OperationalError as exc:  # PostgreSQL serialization / deadlock
            if "deadlock" not in str(exc).lower() and "serializ" not in str(exc).lower():
                raise
            last = exc
    raise Conflict(f"too much contention, retry: {type(last).__name__}")


class StaleWrite(Exception):
    """A compare-and-set update matched no row: someone else changed it first."""
