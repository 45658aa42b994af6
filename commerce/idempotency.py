"""Idempotency keys for POST endpoints (Stripe semantics).

The first request with a key reserves it, runs, and stores its response for 24 h; a retry
with the same key and the same parameters gets the stored response replayed; the same key
with different parameters gets a 422. A request whose key is held by a concurrent one gets
``InProgress`` at once (a 409 with Retry-After; the web layer waits for it asleep, holding no
thread), so exactly one effect happens. A retryable error (``DomainError.retryable``, e.g.
Unavailable) or an unexpected one releases the key for a retry.

Two ways to run a handler:

- ``run_idempotent``: the key is reserved in its own transaction before the handler runs and
  the response stored after it; for handlers with several transactions whose effects must not
  repeat (e.g. a refund reserves an amount, calls the gateway, then settles).
- ``run_once``: the handler's one writing transaction claims the key as its first write and
  stores the response as its last (``Once.claim`` / ``Once.complete``, see
  ``commerce.common.transact``), so the success path costs no extra transaction. For
  handlers whose work before that transaction is read-only or idempotent by itself (gateway
  calls keyed by ``Once.derived_id``). A concurrent duplicate blocks on the key's unique
  index until the first commits, then replays its response. A crash leaves either the effect
  with its stored response, or neither: nothing is ever left "in progress".
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Insert, Update, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commerce import errors
from commerce.db import direct, rowcount, session_scope, utcnow
from commerce.db.models.core import IdempotencyRecord
from commerce.errors import Conflict, DomainError, Invalid
from commerce.privacy import fields
from shopflow.config import get_settings
from shopflow.repeating import repeating

log = logging.getLogger(__name__)

TTL = timedelta(hours=24)
_TABLE = IdempotencyRecord.__table__
#: ``status_code`` of a record that stores an error: the error replays as its class, and the
#: web layer chooses the HTTP status, as for the first answer.
ERROR_STATUS = 0
_SEALED = "__sealed__"


def request_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def run_idempotent(
    key: str | None,
    scope: str,
    payload: Any,
    handler: Callable[[], tuple[int, Any]],
) -> tuple[int, Any, bool]:
    """Run ``handler`` at most once per (scope, key). Returns (status, body, replayed).

    ``handler`` returns (status_code, jsonable body) and may raise DomainError, whose
    error is stored too and replays as the same error, as Stripe does for 4xx errors.
    """
    if key is None:
        status, body = handler()
        return status, body, False
    if not 1 <= len(key) <= 255:
        raise Invalid("Idempotency-Key must be 1 to 255 characters")
    digest = request_hash(payload)
    if not _reserve(scope, key, digest) and not _take_over(scope, key, digest):
        return _stored(scope, key, digest)
    try:
        with _renewing(scope, key):
            status, body = handler()
    except DomainError as exc:
        if exc.retryable:
            _release(scope, key)
            raise
        _store(scope, key, ERROR_STATUS, {"__error__": _error_state(exc)})
        raise
    except BaseException:
        _release(scope, key)
        raise
    _store(scope, key, status, body)
    return status, body, False


class InProgress(Conflict):
    """A concurrent request holds the key and has not answered yet: retry after
    ``retry_after`` seconds (the web layer waits for it first)."""

    title = "Request in progress"
    retryable = True


class KeyTaken(Exception):
    """Another request holds (or held) this idempotency key: replay its response."""


@dataclass
class Once:
    """An idempotency key to be claimed inside the handler's writing transaction."""

    scope: str
    key: str
    digest: str
    status: int
    completed: bool = False

    def derived_id(self, prefix: str) -> str:
        """An entity id fixed by (scope, key, parameters): retries and concurrent duplicates
        name the same entity, so a gateway call keyed by it is deduplicated upstream too."""
        seed = f"{self.scope}\x1f{self.key}\x1f{self.digest}".encode()
        return f"{prefix}_{hashlib.sha256(seed).hexdigest()[:32]}"

    def claim(self, session: Session) -> None:
        """Insert the key's record; must be the transaction's first write. Raises KeyTaken
        when the key exists (a concurrent holder is waited for by the database first)."""
        now = utcnow()
        try:
            direct.execute(
                session,
                _claim(),
                {"scope": self.scope, "key": self.key, "request_hash": self.digest,
                 "created_at": now, "expires_at": now + TTL},
            )  # fmt: skip
        except IntegrityError as exc:
            raise KeyTaken(self.key) from exc

    def complete(self, session: Session, body: Any, error: DomainError | None = None) -> None:
        """Store the outcome in the claiming transaction (a final ``error`` replays as such)."""
        if error is None:
            status, stored = self.status, body
        else:
            status, stored = ERROR_STATUS, {"__error__": _error_state(error)}
        direct.execute_with_later(  # with the transaction's queued writes: one statement
            session,
            _complete(),
            {"p_scope": self.scope, "p_key": self.key, "status_code": status,
             "response_json": _encode(session, stored)},
        )  # fmt: skip
        self.completed = True


# Built once: a reused statement skips SQLAlchemy's construction and cache-key work.
@cache
def _claim() -> Insert:
    return insert(_TABLE)


@cache
def _complete() -> Update:
    """``p_scope`` and ``p_key`` name the record; the other parameters, the columns it sets."""
    return update(_TABLE).where(
        _TABLE.c.scope == bindparam("p_scope"), _TABLE.c.key == bindparam("p_key")
    )


def run_once(
    key: str | None,
    scope: str,
    payload: Any,
    handler: Callable[[Once | None], Any],
    status: int = 200,
) -> tuple[int, Any, bool]:
    """Like ``run_idempotent``, for a handler that passes the ``Once`` to its writing
    transaction (``transact(work, once=...)``) and returns the response body. Returns
    (status, body, replayed). Final errors raised before the claim are stored on their own."""
    if key is None:
        return status, handler(None), False
    if not 1 <= len(key) <= 255:
        raise Invalid("Idempotency-Key must be 1 to 255 characters")
    digest = request_hash(payload)
    for _ in range(2):
        once = Once(scope, key, digest, status)
        try:
            return status, handler(once), False
        except KeyTaken:
            if _drop_expired(scope, key):
                continue
            return _stored(scope, key, digest)
        except DomainError as exc:
            if once.completed:  # stored with the effect (e.g. a recorded decline)
                raise
            if exc.retryable:
                if _exists(scope, key):  # a duplicate holds the key: its answer counts
                    return _stored(scope, key, digest)
                raise
            if not _store_new(scope, key, digest, exc):
                return _stored(scope, key, digest)
            raise
    return _stored(scope, key, digest)


def _exists(scope: str, key: str) -> bool:
    with session_scope() as session:
        found = session.scalar(
            select(IdempotencyRecord.id).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        )
        return found is not None


def _store_new(scope: str, key: str, digest: str, exc: DomainError) -> bool:
    """Insert a finished record for a final error; False when the key was taken meanwhile."""
    record = _new_record(scope, key, digest)
    record.status_code = ERROR_STATUS
    record.response_json = json.dumps({"__error__": _error_state(exc)}, default=str)
    try:
        with session_scope() as session:
            session.add(record)
        return True
    except IntegrityError:
        return False


def _error_state(exc: DomainError) -> dict[str, Any]:
    return {"cls": type(exc).__name__, "detail": exc.detail, "extra": exc.extra}


def _reserve(scope: str, key: str, digest: str) -> bool:
    for _ in range(2):
        try:
            with session_scope() as session:
                session.add(_new_record(scope, key, digest))
            return True
        except IntegrityError:
            if not _drop_expired(scope, key):
                return False
    return False


def _new_record(scope: str, key: str, digest: str) -> IdempotencyRecord:
    now = utcnow()
    return IdempotencyRecord(
        scope=scope, key=key, request_hash=digest, expires_at=now + TTL, lease_until=_lease_end()
    )


def _lease_s() -> float:
    return get_settings().idempotency_lease_s


def _lease_end() -> datetime:
    return utcnow() + timedelta(seconds=_lease_s())


def _take_over(scope: str, key: str, digest: str) -> bool:
    """Own an in-progress key whose owner stopped renewing its lease (it died); True when
    this request now owns it and must run the handler."""
    now = utcnow()
    with session_scope() as session:
        result = session.execute(
            update(_TABLE)
            .where(
                _TABLE.c.scope == scope, _TABLE.c.key == key, _TABLE.c.request_hash == digest,
                _TABLE.c.status_code.is_(None),
                or_(_TABLE.c.lease_until < now, and_(  # a record from before leases
                    _TABLE.c.lease_until.is_(None),
                    _TABLE.c.created_at < now - timedelta(seconds=_lease_s()),
                )),
            )
            .values(lease_until=_lease_end())
        )  # fmt: skip
        taken = bool(rowcount(result))
    if taken:
        log.warning("idempotency key %s/%s: its owner's lease lapsed; taken over", scope, key)
    return taken


def _renewing(scope: str, key: str) -> contextlib.AbstractContextManager[None]:
    """Renew the key's lease every third of it while the block runs (a live owner is never
    taken over, however long its handler takes)."""

    def renew() -> None:
        try:
            with session_scope() as session:
                session.execute(
                    update(_TABLE)
                    .where(_TABLE.c.scope == scope, _TABLE.c.key == key,
                           _TABLE.c.status_code.is_(None))
                    .values(lease_until=_lease_end())
                )  # fmt: skip
        except Exception:  # the next round tries again; the lease has slack
            log.exception("idempotency key %s/%s: lease renewal failed", scope, key)

    return repeating(renew, _lease_s() / 3, f"idempotency-lease-{key}")


def _drop_expired(scope: str, key: str) -> bool:
    """Delete the key's record if it outlived its TTL; True when one was deleted."""
    with session_scope() as session:
        result = session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope,
                IdempotencyRecord.key == key,
                IdempotencyRecord.expires_at < utcnow(),
            )
        )
        return bool(rowcount(result))


def _store(scope: str, key: str, status: int, body: Any) -> None:
    with session_scope() as session:
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
            .values(status_code=status, response_json=_encode(session, body))
        )


def _encode(session: Session, body: Any) -> str:
    """The stored form of a response: one about a user (a ``user_id`` field) is sealed under
    that user's data key, so the PII it may hold is shredded with the key."""
    if isinstance(body, dict) and isinstance(body.get("user_id"), str):
        token = fields.seal(session, body["user_id"], json.dumps(body, default=str))
        return json.dumps({_SEALED: {"user_id": body["user_id"], "body": token}})
    return json.dumps(body, default=str)


def _decode(session: Session, stored: str) -> Any:
    body = json.loads(stored)
    if isinstance(body, dict) and _SEALED in body:
        plain = fields.unseal(session, body[_SEALED]["user_id"], body[_SEALED]["body"])
        if plain is None:
            raise Conflict("the user this stored response is about was erased")
        return json.loads(plain)
    return body


def _release(scope: str, key: str) -> None:
    with session_scope() as session:
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        )


def _stored(scope: str, key: str, digest: str) -> tuple[int, Any, bool]:
    """The key's stored response, replayed; InProgress while its owner still works on it
    (or after it released the key: the retry then runs it)."""
    body: Any = None
    with session_scope() as session:
        record = session.scalars(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        ).one_or_none()
        if record is not None and record.response_json is not None:
            body = _decode(session, record.response_json)
    if record is None:
        raise InProgress("a request with this Idempotency-Key failed; retry it", retry_after=1)
    if record.request_hash != digest:
        raise Invalid("Idempotency-Key was already used with different parameters")
    if record.status_code is not None and record.response_json is not None:
        if isinstance(body, dict) and "__error__" in body:
            raise _rebuild_error(body["__error__"])
        return record.status_code, body, True
    lease_left = (record.lease_until - utcnow()).total_seconds() if record.lease_until else 0.0
    raise InProgress(
        "a request with this Idempotency-Key is still in progress",
        retry_after=max(1, math.ceil(lease_left)),
    )


def _rebuild_error(state: dict[str, Any]) -> DomainError:
    cls = getattr(errors, state["cls"], None)
    if not (isinstance(cls, type) and issubclass(cls, DomainError)):
        cls = DomainError
    return cls(state["detail"], **state.get("extra", {}))
