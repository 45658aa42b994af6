"""A payment's ``version`` (bumped in the transaction of every ledger append) for caches:
a cached payment body is served only while its version is the database's, so no cache
outage or lost invalidation can serve a payment older than the database."""

from __future__ import annotations

from typing import Any

from commerce.auth import Principal
from commerce.db import read_connection, session_scope
from commerce.db.models.commerce import Payment
from commerce.errors import NotFound
from commerce.payments import sql
from commerce.payments.service import payment_dict


def current_version(payment_id: str) -> int | None:
    """The payment's version (one primary-key read), None when there is no such payment."""
    with read_connection() as connection:  # no ORM session: a cache hit's only read
        return connection.scalar(sql.version_of(), {"p_id": payment_id})


def read_versioned(principal: Principal, payment_id: str) -> tuple[dict[str, Any], int]:
    """The payment's body and the version it was read at (NotFound as ``get_payment``)."""
    with session_scope() as session:
        payment = session.get(Payment, payment_id)
        if payment is None or not principal.can_access(payment.user_id):
            raise NotFound(f"payment {payment_id} not found", payment_id=payment_id)
        return payment_dict(session, payment), payment.version
