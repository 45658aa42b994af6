"""``commerce.db.direct.execute``: a write sent straight to the driver stores what
``Session.execute`` would store (bind processing, column defaults, JSON, UTC datetimes), in
the session's transaction, with SQLAlchemy's errors; and what it does not cover still runs
through SQLAlchemy, where listeners see it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, delete, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from commerce.db import direct, get_engine, session_scope, utcnow
from commerce.db.models.commerce import Order, Payment, PaymentLedgerEntry
from commerce.db.models.core import OutboxEvent

_orders, _payments, _outbox = Order.__table__, Payment.__table__, OutboxEvent.__table__
_INSERT_ORDER = insert(_orders)
_INSERT_PAYMENT = insert(_payments)
_INSERT_OUTBOX = insert(_outbox)
_INSERT_ENTRY = insert(PaymentLedgerEntry.__table__)
_PAY = (
    update(_orders)
    .where(_orders.c.id == bindparam("p_order"), _orders.c.status == "PLACED")
    .values(status="PAID")
    .returning(_orders.c.user_id, _orders.c.total_minor)
)
_DELETE_SOME = delete(_outbox).where(_outbox.c.event_id.in_(bindparam("ids", expanding=True)))


def _order(order_id: str, at: datetime) -> dict[str, Any]:
    return {"id": order_id, "user_id": "u1", "status": "PLACED", "total_minor": 1500,
            "currency": "USD", "created_at": at}  # fmt: skip


def _payment(payment_id: str, order_id: str) -> dict[str, Any]:
    return {"id": payment_id, "order_id": order_id, "user_id": "u1", "amount_minor": 1500,
            "currency": "USD", "method": "CREDIT_CARD", "gateway": "test", "status": "PENDING",
            "next_action": {"type": "redirect", "url": "https://bank.example/3ds?x=1"},
            "authorization_expires_at": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)}  # fmt: skip


def _event(event_id: str) -> dict[str, Any]:
    """An outbox row; ``created_at`` is left to the column's default."""
    return {"event_id": event_id, "event_type": "order_paid", "aggregate_id": "ord_1",
            "envelope_json": "{}"}  # fmt: skip


def _entry(payment_id: str) -> dict[str, Any]:
    return {"payment_id": payment_id, "seq": 1, "kind": "created", "amount_minor": 1500,
            "source": "api", "created_at": utcnow()}  # fmt: skip


def _row(table: Any, key: str) -> dict[str, Any]:
    with session_scope() as session:
        found = session.execute(select(table).where(table.c.id == key)).mappings().one()
        return dict(found)


def test_a_direct_insert_stores_what_session_execute_stores(database: str) -> None:
    at = datetime(2026, 5, 6, 7, 8, 9, 123_456, tzinfo=UTC)
    with session_scope() as session:
        session.execute(_INSERT_ORDER, _order("ord_via_session", at))
        direct.execute(session, _INSERT_ORDER, _order("ord_direct", at))
        session.execute(_INSERT_PAYMENT, _payment("pay_via_session", "ord_via_session"))
        direct.execute(session, _INSERT_PAYMENT, _payment("pay_direct", "ord_direct"))

    via_session, via_driver = _row(_orders, "ord_via_session"), _row(_orders, "ord_direct")
    assert via_driver["created_at"] == at  # a UTC datetime, read back aware
    assert via_driver["updated_at"].tzinfo is not None  # the column's default filled in
    for column in ("user_id", "status", "total_minor", "currency", "created_at"):
        assert via_driver[column] == via_session[column]
    paid_session, paid_driver = _row(_payments, "pay_via_session"), _row(_payments, "pay_direct")
    assert paid_driver["next_action"] == {"type": "redirect", "url": "https://bank.example/3ds?x=1"}
    assert paid_driver["version"] == paid_session["version"] == 1  # a scalar default
    assert paid_driver["capture_mode"] == paid_session["capture_mode"] == "automatic"
    assert paid_driver["authorization_expires_at"] == paid_session["authorization_expires_at"]


def test_an_update_counts_its_rows_stamps_updated_at_and_returns_by_position(
    database: str,
) -> None:
    long_ago = utcnow() - timedelta(days=3)
    with session_scope() as session:
        row = {**_order("ord_pay", long_ago), "updated_at": long_ago}
        direct.execute(session, _INSERT_ORDER, row)
    with session_scope() as session:
        user_id, total = direct.execute(session, _PAY, {"p_order": "ord_pay"}).one_or_none()  # type: ignore[misc]
        again = direct.execute(session, _PAY, {"p_order": "ord_pay"})
    assert (user_id, total) == ("u1", 1500)
    assert again.one_or_none() is None and again.rowcount == 0
    stored = _row(_orders, "ord_pay")
    assert stored["status"] == "PAID"
    assert stored["updated_at"] > long_ago + timedelta(days=2)  # the column's onupdate


def test_many_rows_go_in_one_call_and_commit_or_roll_back_with_the_session(
    database: str,
) -> None:
    rows = [_event(f"evt_{n}") for n in range(3)]
    with pytest.raises(RuntimeError), session_scope() as session:
        direct.execute(session, _INSERT_OUTBOX, rows)
        raise RuntimeError("the work fails after the write")
    with session_scope() as session:
        assert session.scalars(select(_outbox.c.event_id)).all() == []
        direct.execute(session, _INSERT_OUTBOX, rows)
    with session_scope() as session:
        stored = session.execute(select(_outbox.c.event_id, _outbox.c.created_at)).all()
    assert sorted(str(event_id) for event_id, _ in stored) == ["evt_0", "evt_1", "evt_2"]
    assert all(isinstance(created, datetime) and created.tzinfo for _, created in stored)


def test_many_rows_are_stored_in_order_as_one_by_one_inserts_store_them(database: str) -> None:
    """Past one statement's worth of rows (they go as multi-row VALUES, in parts): every row,
    in the order given (the relay publishes by id), with the same values as single inserts."""
    rows = [_event(f"evt_{n:03d}") for n in range(120)]
    with session_scope() as session:
        assert direct.execute(session, _INSERT_OUTBOX, rows).rowcount == 120
    with session_scope() as session:
        ids = session.scalars(select(_outbox.c.event_id).order_by(_outbox.c.id)).all()
    assert ids == [row["event_id"] for row in rows]

    at = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    with session_scope() as session:
        direct.execute(session, _INSERT_ORDER, [_order("ord_a", at), _order("ord_b", at)])
        direct.execute(session, _INSERT_PAYMENT, _payment("pay_one", "ord_a"))
        direct.execute(
            session, _INSERT_PAYMENT, [_payment("pay_many", "ord_a"), _payment("pay_b", "ord_b")]
        )
    one, many = _row(_payments, "pay_one"), _row(_payments, "pay_many")
    assert {k: v for k, v in one.items() if k not in ("id", "created_at", "updated_at")} == {
        k: v for k, v in many.items() if k not in ("id", "created_at", "updated_at")
    }
    assert many["next_action"] == {"type": "redirect", "url": "https://bank.example/3ds?x=1"}
    assert _row(_payments, "pay_b")["order_id"] == "ord_b"


def test_a_duplicate_among_many_rows_stores_none_of_them(database: str) -> None:
    rows = [_event("evt_x"), _event("evt_y"), _event("evt_x")]
    with pytest.raises(IntegrityError), session_scope() as session:
        direct.execute(session, _INSERT_OUTBOX, rows)
    with session_scope() as session:
        assert session.scalars(select(_outbox.c.event_id)).all() == []


def test_writes_together_store_each_and_answer_for_the_last(database: str) -> None:
    """On PostgreSQL one statement (the earlier writes as CTEs); a foreign key to a row
    inserted beside it holds, and the last write's count and RETURNING row come back."""
    at = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    with session_scope() as session:
        direct.execute(session, _INSERT_ORDER, _order("ord_1", at))
        paid = direct.execute_together(
            session,
            [
                (_INSERT_PAYMENT, _payment("pay_1", "ord_1")),
                (_INSERT_ENTRY, _entry("pay_1")),  # references the payment inserted beside it
                (_INSERT_OUTBOX, [_event("evt_a"), _event("evt_b")]),
                (_PAY, {"p_order": "ord_1"}),
            ],
        )
        assert paid.rowcount == 1 and tuple(paid.one_or_none() or ()) == ("u1", 1500)
    assert _row(_payments, "pay_1")["next_action"]["type"] == "redirect"
    assert _row(_orders, "ord_1")["status"] == "PAID"
    with session_scope() as session:
        again = direct.execute_together(
            session, [(_INSERT_OUTBOX, _event("evt_c")), (_PAY, {"p_order": "ord_1"})]
        )
        assert again.rowcount == 0 and again.one_or_none() is None
        ids = session.scalars(select(_outbox.c.event_id).order_by(_outbox.c.id)).all()
    assert ids == ["evt_a", "evt_b", "evt_c"]


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_on_postgresql_writes_together_are_one_statement(database: str) -> None:
    """Hence one round trip, and the caveat ``execute_together`` names: the last write does
    not see the order inserted beside it (one after another, it would pay it)."""
    with session_scope() as session:
        paid = direct.execute_together(
            session, [(_INSERT_ORDER, _order("ord_new", utcnow())), (_PAY, {"p_order": "ord_new"})]
        )
        assert paid.rowcount == 0
    assert _row(_orders, "ord_new")["status"] == "PLACED"


def test_writes_together_fail_together(database: str) -> None:
    with session_scope() as session:
        direct.execute(session, _INSERT_OUTBOX, _event("evt_taken"))
    with pytest.raises(IntegrityError), session_scope() as session:
        direct.execute_together(
            session,
            [(_INSERT_ORDER, _order("ord_lost", utcnow())), (_INSERT_OUTBOX, _event("evt_taken"))],
        )
    with session_scope() as session:
        assert session.get(Order, "ord_lost") is None


def test_writes_queued_for_later_are_sent_in_order_at_the_commit_or_dropped(
    database: str,
) -> None:
    with pytest.raises(RuntimeError), session_scope() as session:
        direct.later(session, _INSERT_OUTBOX, _event("evt_rolled_back"))
        raise RuntimeError("the work fails after queuing")
    at = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    with session_scope() as session:
        session.add(Order(**_order("ord_orm", at)))  # pending in the ORM until the commit
        direct.later(session, _INSERT_PAYMENT, _payment("pay_q", "ord_orm"))  # refers to it
        for n in range(60):  # one after another: sent as multi-row writes
            direct.later(session, _INSERT_OUTBOX, _event(f"evt_{n:02d}"))
        assert session.scalars(select(_outbox.c.event_id)).all() == []  # not sent yet
    with session_scope() as session:
        ids = session.scalars(select(_outbox.c.event_id).order_by(_outbox.c.id)).all()
    assert ids == [f"evt_{n:02d}" for n in range(60)]
    assert _row(_payments, "pay_q")["order_id"] == "ord_orm"


def test_queued_writes_go_with_the_transactions_last_write(database: str) -> None:
    with session_scope() as session:
        direct.execute(session, _INSERT_ORDER, _order("ord_2", utcnow()))
    with session_scope() as session:
        direct.later(session, _INSERT_PAYMENT, _payment("pay_2", "ord_2"))
        direct.later(session, _INSERT_ENTRY, _entry("pay_2"))  # references the row before
        direct.later(session, _INSERT_OUTBOX, _event("evt_2"))
        paid = direct.execute_with_later(session, _PAY, {"p_order": "ord_2"})
        assert paid.rowcount == 1
        assert session.scalars(select(_outbox.c.event_id)).all() == ["evt_2"]  # sent already
    assert _row(_payments, "pay_2")["status"] == "PENDING"


def test_a_write_queued_in_a_savepoint_goes_back_with_it(database: str) -> None:
    with session_scope() as session:
        savepoint = session.begin_nested()
        direct.later(session, _INSERT_OUTBOX, _event("evt_in_savepoint"))
        savepoint.rollback()
        direct.later(session, _INSERT_OUTBOX, _event("evt_kept"))
    with session_scope() as session:
        assert session.scalars(select(_outbox.c.event_id)).all() == ["evt_kept"]


def test_a_duplicate_key_raises_sqlalchemys_integrity_error_and_the_session_recovers(
    database: str,
) -> None:
    with session_scope() as session:
        direct.execute(session, _INSERT_OUTBOX, _event("evt_once"))
    with pytest.raises(IntegrityError), session_scope() as session:
        direct.execute(session, _INSERT_OUTBOX, _event("evt_once"))
    with session_scope() as session:  # the pool's connection is usable again
        direct.execute(session, _INSERT_OUTBOX, _event("evt_twice"))
        assert len(session.scalars(select(_outbox.c.event_id)).all()) == 2


def test_listeners_and_expanding_parameters_go_through_sqlalchemy(database: str) -> None:
    row = _event("evt_seen")
    with session_scope() as session:
        direct.execute(session, _INSERT_OUTBOX, row)
        removed = direct.execute(session, _DELETE_SOME, {"ids": ["evt_seen", "evt_none"]})
        assert removed.rowcount == 1

    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        with session_scope() as session:
            direct.execute(session, _INSERT_OUTBOX, row)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert any(statement.startswith("INSERT INTO outbox") for statement in seen)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_lost_connection_is_reported_as_invalidated_and_the_next_session_reconnects(
    database: str,
) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    row = _event("evt_lost")
    with pytest.raises(DBAPIError) as raised, session_scope() as session:
        pid = session.scalar(text("SELECT pg_backend_pid()"))
        with get_engine().connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        direct.execute(session, _INSERT_OUTBOX, row)
    assert raised.value.connection_invalidated
    with session_scope() as session:
        direct.execute(session, _INSERT_OUTBOX, row)
        assert session.scalars(select(_outbox.c.event_id)).all() == ["evt_lost"]
