"""``commerce.db.read_scope``: one-statement reads outside a transaction on PostgreSQL (no
BEGIN or COMMIT round trips), an ordinary session on SQLite; and the statements the payment
path builds once keep working when reused with other parameters."""

from __future__ import annotations

from sqlalchemy import select, text

from commerce.db import read_scope, session_scope, utcnow
from commerce.db.models.commerce import Order


def _place(order_id: str, total: int) -> None:
    now = utcnow()
    with session_scope() as session:
        session.add(
            Order(
                id=order_id, user_id="u1", status="PLACED", total_minor=total,
                currency="USD", created_at=now, updated_at=now,
            )
        )  # fmt: skip


def test_a_read_scope_sees_committed_rows_and_holds_no_transaction(database: str) -> None:
    _place("ord_read_1", 1200)
    with read_scope() as session:
        total = session.scalar(select(Order.total_minor).where(Order.id == "ord_read_1"))
        raw = session.connection().connection.dbapi_connection
        if database.startswith("postgresql"):
            from psycopg.pq import TransactionStatus

            assert raw is not None
            assert raw.info.transaction_status == TransactionStatus.IDLE  # autocommit
    assert total == 1200


def test_a_connection_from_a_read_scope_goes_back_transactional(database: str) -> None:
    """The pool hands the same connection to writers next: it must not stay in autocommit,
    or a failed write transaction would leave half its statements committed."""
    _place("ord_read_2", 500)
    with read_scope() as session:
        session.execute(text("SELECT 1"))
    try:
        with session_scope() as session:
            session.execute(
                Order.__table__.update().where(Order.id == "ord_read_2").values(total_minor=1)
            )
            raise RuntimeError("fail after the update")
    except RuntimeError:
        pass
    with read_scope() as session:
        total = session.scalar(select(Order.total_minor).where(Order.id == "ord_read_2"))
    assert total == 500


def test_the_prebuilt_payable_order_query_answers_for_each_order(database: str) -> None:
    from commerce.payments import sql

    _place("ord_read_3", 700)
    _place("ord_read_4", 900)
    with read_scope() as session:
        rows = [
            session.execute(sql.payable_order(), {"p_order": order_id}).one()
            for order_id in ("ord_read_3", "ord_read_4", "ord_read_3")
        ]
    assert [(r.total_minor, int(r.committed_minor)) for r in rows] == [
        (700, 0),
        (900, 0),
        (700, 0),
    ]


def test_cache_versions_are_read_outside_a_transaction(database: str) -> None:
    """A cached read's one database cost (the versions of what it shows) opens no
    transaction on PostgreSQL, and reads a bump committed just before."""
    from commerce import cache_versions
    from commerce.db import read_connection

    with session_scope() as session:
        cache_versions.bump(session, "reviews:p1")
    assert cache_versions.read(["reviews:p1", "reviews:never"]) == [1, 0]
    with read_connection() as connection:
        assert cache_versions.current(connection, ["reviews:p1"]) == [1]
        raw = connection.connection.dbapi_connection
        if database.startswith("postgresql"):
            from psycopg.pq import TransactionStatus

            assert raw is not None
            assert raw.info.transaction_status == TransactionStatus.IDLE  # autocommit
