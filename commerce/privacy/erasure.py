"""Erasure of a user (GDPR article 17), recorded in ``erasure_requests`` step by step.

Each step is idempotent and marked done in the same transaction as its database effect, so
re-running a request after a crash finishes it. In order:

- ``online_store``: the user's Redis keys and cached payment bodies are deleted;
- ``reviews``: reviews are kept but anonymised (author "deleted user", the user's name,
  email, phone and street lines removed from the text), votes pseudonymised, uploaded media
  deleted with their files;
- ``records``: notification contacts, messages and deliveries, wishlists, the compare list
  and stored idempotent responses are deleted; payments are kept for accounting with their
  billing address and customer removed (orders and the ledger hold no PII);
- ``data_key``: the user's data key is destroyed (crypto-shredding), so every sealed copy
  (backups, old WAL, replicas) becomes unreadable.

The request then waits in ``pipeline_pending`` for the ``privacy_erasure`` Dagster job to
remove the user's rows from landing Parquet and the warehouse (steps ``landing`` and
``warehouse``), which sets it ``done``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import redis
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from commerce.common import new_id
from commerce.db import Base, rowcount, session_scope, utcnow
from commerce.db.models.commerce import Order, Payment
from commerce.db.models.core import IdempotencyRecord
from commerce.db.models.notifications import (
    Notification,
    NotificationDelivery,
    NotificationDigestItem,
    NotificationPreference,
)
from commerce.db.models.privacy import ErasureRequest, UserKey
from commerce.db.models.reviews import Review, ReviewMedia, ReviewVote
from commerce.db.models.wishlists import CompareItem, Wishlist, WishlistAlertSent
from commerce.errors import NotFound
from commerce.notifications import preferences
from commerce.privacy import fields, records
from commerce.privacy.export import owned_keys
from commerce.privacy.keyring import get_keyring
from commerce.reviews import cache as reviews_cache
from commerce.reviews import media_store
from shopflow.online_store import keys, version_index

RUNNING, PIPELINE_PENDING, DONE = "running", "pipeline_pending", "done"
DOMAIN_STEPS = ("online_store", "reviews", "records", "data_key")
PIPELINE_STEPS = ("landing", "warehouse")
DELETED_USER = "deleted user"
REDACTED = "[removed]"


def request_dict(req: ErasureRequest) -> dict[str, Any]:
    return records.row_dict(req)


#: Tables whose rows an erasure deletes or anonymises (rows left after it came back).
_ERASED = (NotificationPreference, Review, ReviewMedia, Wishlist, CompareItem, Notification)
#: Tables that show a user exists but outlive an erasure (accounting, the key tombstone).
_KEPT = (UserKey, Order, Payment, ErasureRequest)


def _holds(session: Session, tables: tuple[type[Base], ...], user_id: str) -> bool:
    owner = [t.__table__.c.user_id for t in tables]
    return any(session.scalar(select(c).where(c == user_id).limit(1)) is not None for c in owner)


def known_user(session: Session, user_id: str) -> bool:
    """Whether anything is held about the user in the OLTP store."""
    return _holds(session, _ERASED + _KEPT, user_id)


def request_erasure(user_id: str, requested_by: str) -> dict[str, Any]:
    """Record an erasure of ``user_id``, or return the one already recorded: erasing twice
    is one erasure, unless the id gathered new data after the last one finished (then a
    new request erases that). NotFound when nothing is held about the user."""
    with session_scope() as session:
        existing = session.scalars(
            select(ErasureRequest)
            .where(ErasureRequest.user_id == user_id)
            .order_by(ErasureRequest.created_at.desc())
            .limit(1)
        ).first()
        if existing is not None and (
            existing.status != DONE or not _holds(session, _ERASED, user_id)
        ):
            return request_dict(existing)
        if not known_user(session, user_id):
            raise NotFound(f"user {user_id} not found", user_id=user_id)
        now = utcnow()
        req = ErasureRequest(id=new_id("era")[:32], user_id=user_id, requested_by=requested_by,
                             status=RUNNING, steps=[], summary={}, created_at=now,
                             updated_at=now)  # fmt: skip
        session.add(req)
        session.flush()
        return request_dict(req)


def erase(
    user_id: str,
    requested_by: str,
    client: redis.Redis | None,
    storage: media_store.MediaStorage | None = None,
) -> dict[str, Any]:
    """Record the erasure and run its domain steps; returns the request."""
    req = request_erasure(user_id, requested_by)
    return run_domain_steps(req["id"], client, storage)


def run_domain_steps(
    request_id: str, client: redis.Redis | None, storage: media_store.MediaStorage | None = None
) -> dict[str, Any]:
    """Run the steps not yet done (a re-run after a crash resumes here)."""
    steps: dict[str, Callable[[Session, str], int]] = {
        "online_store": lambda s, u: _online_store(client, s, u),
        "reviews": lambda s, u: _reviews(s, u, storage),
        "records": _records,
        "data_key": lambda s, u: int(get_keyring().shred(s, u)),
    }
    for step in DOMAIN_STEPS:
        with session_scope() as session:
            req = locked(session, request_id)
            if step in req.steps:
                continue
            count = steps[step](session, req.user_id)
            mark_done(req, step, count)
            if step == DOMAIN_STEPS[-1]:
                req.status = PIPELINE_PENDING
    with session_scope() as session:
        return request_dict(locked(session, request_id))


def locked(session: Session, request_id: str) -> ErasureRequest:
    req = session.get(ErasureRequest, request_id, with_for_update=True)
    if req is None:
        raise NotFound(f"erasure request {request_id} not found")
    return req


def mark_done(req: ErasureRequest, step: str, count: int) -> None:
    """Record ``step`` done (``count`` things erased) on a request loaded in the session."""
    req.steps = [*req.steps, step]
    req.summary = {**req.summary, step: count}
    req.updated_at = utcnow()
    if all(s in req.steps for s in (*DOMAIN_STEPS, *PIPELINE_STEPS)):
        req.status, req.finished_at = DONE, req.updated_at


def pending_pipeline(session: Session) -> list[ErasureRequest]:
    """Requests whose landing and warehouse steps are still to do."""
    query = select(ErasureRequest).where(ErasureRequest.status == PIPELINE_PENDING)
    return list(session.scalars(query.order_by(ErasureRequest.created_at)))


# ---- the steps ---------------------------------------------------------------------------
def _online_store(client: redis.Redis | None, session: Session, user_id: str) -> int:
    if client is None:
        return 0
    doomed = owned_keys(client, user_id)
    doomed += [keys.payment_cache(p.id) for p in records.payments(session, user_id)]
    removed = int(client.delete(*doomed)) if doomed else 0
    version_index.scrub(client, doomed)  # publish indexes name the user's keys too
    for review in records.owned(session, Review, user_id):
        if review.text_hash:
            client.srem(keys.review_text_accounts(review.text_hash), user_id)
    return removed


def pii_terms(session: Session, user_id: str) -> set[str]:
    """The user's identifying strings (to remove from free text): contacts, payer names,
    emails, phones and street lines. Read before the data key is destroyed."""
    terms: set[str] = set()
    prefs = preferences.load(session, user_id)
    terms.update(t for t in (prefs.email, prefs.phone) if t)
    for payment in records.payments(session, user_id):
        customer = fields.unseal_json(session, user_id, payment.customer) or {}
        address = fields.unseal_json(session, user_id, payment.billing_address) or {}
        terms.update(str(customer.get(k) or "") for k in ("name", "email", "phone"))
        terms.update(str(address.get(k) or "") for k in ("line1", "line2"))
    return {t for t in terms if len(t) >= 3}


def redact(text: str, terms: Iterable[str]) -> str:
    for term in sorted(terms, key=len, reverse=True):
        text = re.sub(re.escape(term), REDACTED, text, flags=re.IGNORECASE)
    return text


def _reviews(session: Session, user_id: str, storage: media_store.MediaStorage | None) -> int:
    terms = pii_terms(session, user_id)
    reviews = records.owned(session, Review, user_id)
    for review in reviews:
        review.user_id = f"{DELETED_USER}:{review.id}"  # unique per (product, user)
        review.title, review.body = redact(review.title, terms), redact(review.body, terms)
        review.updated_at = utcnow()
        reviews_cache.mark(session, review.product_id)
    for vote in records.owned(session, ReviewVote, user_id):
        session.execute(
            update(ReviewVote)
            .where(ReviewVote.review_id == vote.review_id, ReviewVote.user_id == user_id)
            .values(user_id=f"{DELETED_USER}:{new_id('v')[-12:]}")
        )
    media = records.media(session, user_id)
    stored = [k for m in media for k in (m.storage_key, m.thumbnail_key) if k]
    for row in media:
        session.delete(row)
    if stored:
        files = storage or media_store.default_storage()

        def delete_files() -> None:
            for key in stored:
                files.delete(key)

        reviews_cache.after_commit_call(session, delete_files)
    return len(reviews) + len(media)


def _records(session: Session, user_id: str) -> int:
    count = 0
    notes = select(Notification.id).where(Notification.user_id == user_id)
    for stmt in (
        delete(NotificationDelivery).where(NotificationDelivery.notification_id.in_(notes)),
        delete(NotificationDelivery).where(NotificationDelivery.user_id == user_id),
        delete(Notification).where(Notification.user_id == user_id),
        delete(NotificationDigestItem).where(NotificationDigestItem.user_id == user_id),
        delete(NotificationPreference).where(NotificationPreference.user_id == user_id),
        delete(CompareItem).where(CompareItem.user_id == user_id),
        delete(WishlistAlertSent).where(WishlistAlertSent.user_id == user_id),
        # stored responses of the user's POSTs (scopes end in ":<user id>")
        delete(IdempotencyRecord).where(
            IdempotencyRecord.scope.endswith(f":{user_id}", autoescape=True)
        ),
    ):
        count += rowcount(session.execute(stmt, execution_options={"synchronize_session": False}))
    for wishlist in records.owned(session, Wishlist, user_id):
        session.delete(wishlist)  # its items go with it
        count += 1
    count += rowcount(
        session.execute(
            update(Payment)
            .where(Payment.user_id == user_id)
            .values(billing_address=None, customer=None, updated_at=utcnow()),
            execution_options={"synchronize_session": False},
        )
    )
    return count
