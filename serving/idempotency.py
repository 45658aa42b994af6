"""Idempotency keys for POST endpoints (Stripe semantics).

The first request with a key reserves it, runs, and stores its response for 24 h; a retry
with the same key and the same parameters gets the stored response replayed; the same key
with different parameters gets a 422. Concurrent requests with one key wait for the first
to finish, so exactly one effect happens. A 5xx outcome releases the key for a retry.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from serving.db import session_scope, utcnow
from serving.db.models.core import IdempotencyRecord
from serving.errors import Conflict, Invalid, ShopflowError

TTL = timedelta(hours=24)
WAIT_SECONDS = 30.0


def request_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def run_idempotent(
    key: str | None,
    scope: str,
    payload: Any,
    handler: Callable[[], tuple[int, Any]],
) -> tuple[int, Any, bool]:
    """Run ``handler`` at most once per (scope, key). Returns (status, body, replayed).

    ``handler`` returns (status_code, jsonable body) and may raise ShopflowError, whose
    problem response is stored too, as Stripe does for 4xx errors.
    """
    if key is None:
        status, body = handler()
        return status, body, False
    if not 1 <= len(key) <= 255:
        raise Invalid("Idempotency-Key must be 1 to 255 characters")
    digest = request_hash(payload)
    if not _reserve(scope, key, digest):
        return _await_stored(scope, key, digest)
    try:
        status, body = handler()
    except ShopflowError as exc:
        if exc.status >= 500:
            _release(scope, key)
            raise
        _store(scope, key, exc.status, {"__error__": _error_state(exc)})
        raise
    except BaseException:
        _release(scope, key)
        raise
    _store(scope, key, status, body)
    return status, body, False


def _error_state(exc: ShopflowError) -> dict[str, Any]:
    return {"cls": type(exc).__name__, "detail": exc.detail, "extra": exc.extra}


def _reserve(scope: str, key: str, digest: str) -> bool:
    now = utcnow()
    try:
        with session_scope() as session:
            session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope,
                    IdempotencyRecord.key == key,
                    IdempotencyRecord.expires_at < now,
                )
            )
            session.add(
                IdempotencyRecord(scope=scope, key=key, request_hash=digest, expires_at=now + TTL)
            )
        return True
    except IntegrityError:
        return False


def _store(scope: str, key: str, status: int, body: Any) -> None:
    with session_scope() as session:
        record = session.scalars(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        ).one()
        record.status_code = status
        record.response_json = json.dumps(body, default=str)


def _release(scope: str, key: str) -> None:
    with session_scope() as session:
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        )


def _await_stored(scope: str, key: str, digest: str) -> tuple[int, Any, bool]:
    deadline = time.monotonic() + WAIT_SECONDS
    delay = 0.005
    while True:
        with session_scope() as session:
            record = session.scalars(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
                )
            ).one_or_none()
        if record is None:
            raise Conflict("a request with this Idempotency-Key failed; retry it")
        if record.request_hash != digest:
            raise Invalid("Idempotency-Key was already used with different parameters")
        if record.status_code is not None and record.response_json is not None:
            body = json.loads(record.response_json)
            if isinstance(body, dict) and "__error__" in body:
                raise _rebuild_error(body["__error__"])
            return record.status_code, body, True
        if time.monotonic() > deadline:
            raise Conflict("a request with this Idempotency-Key is still in progress")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _rebuild_error(state: dict[str, Any]) -> ShopflowError:
    import serving.errors as errors

    cls = getattr(errors, state["cls"], None)
    if not (isinstance(cls, type) and issubclass(cls, ShopflowError)):
        cls = ShopflowError
    return cls(state["detail"], **state.get("extra", {}))
