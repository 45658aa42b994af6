"""DML sent straight to the DBAPI cursor of a session's own connection, in its transaction.

The hot write paths (payments, their ledger and outbox rows, idempotency keys) run a dozen
small statements per request, and SQLAlchemy's execution machinery costs several times what
the database does for each. ``execute`` keeps what makes a statement correct and drops the
rest: SQLAlchemy compiles it (once per dialect, parameter names and one row or many), the
parameters go through SQLAlchemy's own parameter mapping, the statement's bind processors
and its Python-side column defaults, and a driver error is raised as SQLAlchemy raises it
(``IntegrityError`` and so on). The database sees the SQL and values ``Session.execute``
would send.

For statements built once (module level, or ``functools.cache``): plans are kept per
statement object. Anything else runs through ``Session.execute`` unchanged: expanding (IN)
parameters, SQL-expression defaults, values the ORM would fetch back, RETURNING columns whose
type converts results, and any connection with event listeners (tracing's SQL spans, a test
counting statements).

Round trips, which on PostgreSQL cost more client CPU than the statements themselves:
many rows of a plain INSERT go as one multi-row ``VALUES``; ``execute_together`` sends
several writes as one statement (data-modifying CTEs); ``later`` queues writes nothing reads
before the commit (outbox rows) to go with the transaction's last write.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Insert, event, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase

Params = Mapping[str, Any]
_MAX_PLANS = 1024
_ROWS_PER_STATEMENT = 50  # most rows of a plain INSERT sent as one multi-row VALUES
_MOST_TOGETHER = 16  # most writes sent as one statement
_LATER = "commerce.db.direct.later"  # Session.info: the writes ``later`` queued
_NAMED = re.compile(r"%\(([^)]+)\)s")  # a ``pyformat`` placeholder


class Written(Protocol):
    """What a write answers: rows matched, and its RETURNING row (unpack it by position)."""

    @property
    def rowcount(self) -> int: ...

    def one_or_none(self) -> Sequence[Any] | None: ...


@dataclass(frozen=True, slots=True)
class _Plan:
    statement: UpdateBase  # held, so no other statement can take its id() while planned
    compiled: SQLCompiler
    positional: tuple[str, ...] | None  # bind names in order; None: named parameters
    processors: Mapping[str, Callable[[Any], Any]]
    defaults: tuple[tuple[str, Callable[[Any], Any]], ...]  # bind name, column default
    rows: _Rows | None  # a plain INSERT of many rows: sent as one multi-row VALUES
    ctes: dict[tuple[int, int], str]  # (position, rows) -> the statement as a CTE


@dataclass(frozen=True, slots=True)
class _Rows:
    """Several rows of a plain INSERT as one statement, ``INSERT ... VALUES (...), (...)``:
    one round trip, where the driver's ``executemany`` costs one per row (or, psycopg, a
    pipeline's set-up and sync)."""

    head: str  # "INSERT INTO t (a, b) VALUES "
    row: str  # one row's placeholders: "(?, ?)", "(%s, %s)" or "(%(a)s, %(b)s)"
    named: bool  # pyformat: each row's names get a suffix
    texts: dict[int, str]  # row count -> statement

    def text(self, count: int) -> str:
        found = self.texts.get(count)
        if found is None:
            rows = [self._numbered(i) for i in range(count)] if self.named else [self.row] * count
            found = self.texts[count] = self.head + ", ".join(rows)
        return found

    def params(self, values: Sequence[Any]) -> list[Any] | dict[str, Any]:
        if self.named:
            return {f"{name}_r{i}": v for i, row in enumerate(values) for name, v in row.items()}
        return [v for row in values for v in row]

    def _numbered(self, i: int) -> str:
        return _suffixed(self.row, f"_r{i}")


def _suffixed(text: str, suffix: str) -> str:
    """``text`` with ``suffix`` added to each ``pyformat`` parameter name."""
    return _NAMED.sub(lambda m: f"%({m.group(1)}{suffix})s", text)


class _Done:
    """A finished write: its row count and the rows it returned."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rowcount: int, rows: list[Sequence[Any]]) -> None:
        self.rowcount, self.rows = rowcount, rows

    def one_or_none(self) -> Sequence[Any] | None:
        if len(self.rows) > 1:
            raise exc.MultipleResultsFound("more than one row returned")
        return self.rows[0] if self.rows else None


class _DefaultContext:
    """What SQLAlchemy passes a Python column default: the row's parameters."""

    def __init__(self, parameters: MutableMapping[str, Any]) -> None:
        self.current_parameters = parameters

    def get_current_parameters(
        self, isolate_multiinsert_groups: bool = True
    ) -> MutableMapping[str, Any]:
        return self.current_parameters


_plans: dict[tuple[int, str, tuple[str, ...], bool], _Plan | None] = {}
Write = tuple[UpdateBase, Params | Sequence[Params]]  # a statement and its row or rows


def execute(
    db: Session | Connection, statement: UpdateBase, params: Params | Sequence[Params]
) -> Written:
    """Run the INSERT, UPDATE or DELETE ``statement`` with ``params`` (one row's, or a
    non-empty list of rows with the same keys) in ``db``'s transaction."""
    connection = db.connection() if isinstance(db, Session) else db
    rows: Sequence[Params]
    many, rows = (False, [params]) if isinstance(params, Mapping) else (True, params)
    plan = None
    if rows and not _listened(connection):  # listeners see every statement the usual way
        plan = _plan(connection.dialect, statement, rows[0], many)
    if plan is None:
        return db.execute(statement, params)  # type: ignore[return-value]
    values = [_values(plan, row) for row in rows]
    sql, many_rows = plan.compiled.string, plan.rows

    def send(cursor: Any) -> _Done:
        if len(values) == 1:
            cursor.execute(sql, values[0])
        elif many_rows is not None:
            return _Done(_insert_rows(cursor, many_rows, values), [])
        else:
            cursor.executemany(sql, values)
        return _done(cursor)

    return _sent(connection, sql, values, send)


def execute_together(db: Session | Connection, writes: Sequence[Write]) -> Written:
    """Run ``writes`` (statement, row or rows, as for ``execute``) in order in ``db``'s
    transaction; answers for the last. On PostgreSQL they go as one statement, one round
    trip: the earlier ones, which return nothing, as data-modifying CTEs before the last.
    All of them then see the database as the statement found it, not each other's changes,
    so none may depend on what another writes (a foreign key to a row inserted beside it
    holds: it is checked when the statement ends). Elsewhere one after another."""
    connection = db.connection() if isinstance(db, Session) else db
    together = _together(connection, writes)
    if together is None:
        for statement, params in writes[:-1]:
            execute(db, statement, params)
        return execute(db, *writes[-1])
    sql, values = together

    def send(cursor: Any) -> _Done:
        cursor.execute(sql, values)
        return _done(cursor)

    return _sent(connection, sql, [values], send)


def later(session: Session, statement: UpdateBase, params: Params | Sequence[Params]) -> None:
    """Queue a write that nothing in this transaction reads afterwards (outbox rows, a new
    payment's rows). Queued writes go, in order, with the transaction's next
    ``execute_with_later`` or just before its commit: on PostgreSQL in the same statement,
    so they cost no round trip of their own. Rows of the same statement queued one after
    another go as one multi-row write. Inside a savepoint the write is sent at once (a
    rolled-back savepoint must take it back)."""
    if session.in_nested_transaction():
        execute(session, statement, params)
        return
    rows = [params] if isinstance(params, Mapping) else list(params)
    if not rows:
        return
    queued: list[tuple[UpdateBase, list[Params]]] = session.info.setdefault(_LATER, [])
    if queued and queued[-1][0] is statement and queued[-1][1][0].keys() == rows[0].keys():
        queued[-1][1].extend(rows)
    else:
        queued.append((statement, rows))


def execute_with_later(session: Session, statement: UpdateBase, params: Params) -> Written:
    """The writes ``later`` queued, then this one (as ``execute``); answers for this one.
    The session's pending ORM objects are flushed first (queued rows may refer to them)."""
    queued = session.info.pop(_LATER, None)
    if not queued:
        return execute(session, statement, params)
    session.flush()
    return execute_together(session, [*queued, (statement, params)])


def _write_later(session: Session) -> None:
    """Before a commit: flush the ORM's pending objects, then send what ``later`` queued."""
    queued = session.info.pop(_LATER, None)
    if queued:
        session.flush()
        execute_together(session, queued)


def _drop_later(session: Session, transaction: SessionTransaction) -> None:
    """A transaction that ends without its commit (rolled back, closed) drops its queue."""
    if transaction.parent is None:
        session.info.pop(_LATER, None)


event.listen(Session, "before_commit", _write_later)
event.listen(Session, "after_transaction_end", _drop_later)


def _together(connection: Connection, writes: Sequence[Write]) -> tuple[str, dict[str, Any]] | None:
    """``writes`` as one statement and its parameters, or None where it cannot be one."""
    dialect = connection.dialect
    if dialect.name != "postgresql" or dialect.paramstyle != "pyformat":
        return None
    if _listened(connection) or len(writes) > _MOST_TOGETHER:
        return None
    texts: list[str] = []
    values: dict[str, Any] = {}
    last = len(writes) - 1
    for i, (statement, params) in enumerate(writes):
        many = not isinstance(params, Mapping)
        rows: Sequence[Params] = params if many else [params]  # type: ignore[assignment,list-item]
        plan = _plan(dialect, statement, rows[0], many) if rows else None
        if plan is None or (i < last and plan.compiled.effective_returning):
            return None
        named = [_values(plan, row) for row in rows]
        if len(named) == 1:
            text, row_values = plan.compiled.string, named[0]
        elif plan.rows is not None and len(named) <= _ROWS_PER_STATEMENT:
            text, row_values = plan.rows.text(len(named)), plan.rows.params(named)
        else:
            return None
        assert isinstance(row_values, dict)  # pyformat: named parameters
        if i < last:  # each CTE's names get its own suffix
            text = _cte(plan, i, len(named), text)
            row_values = {f"{name}_w{i}": value for name, value in row_values.items()}
        texts.append(text)
        values.update(row_values)
    return f"WITH {', '.join(texts[:-1])} {texts[-1]}" if len(texts) > 1 else texts[0], values


def _cte(plan: _Plan, i: int, count: int, text: str) -> str:
    """``text`` (``plan``'s, for ``count`` rows) as the ``i``-th CTE, its parameter names
    suffixed; kept on the plan."""
    found = plan.ctes.get((i, count))
    if found is None:
        found = plan.ctes[(i, count)] = f"w{i} AS ({_suffixed(text, f'_w{i}')})"
    return found


def _listened(connection: Connection) -> bool:
    """Event listeners on the connection or its engine (tracing, a test counting statements):
    they see every statement the usual way, through SQLAlchemy."""
    return bool(connection._has_events or connection.engine._has_events)


def _sent(
    connection: Connection, sql: str, values: list[Any], send: Callable[[Any], _Done]
) -> _Done:
    """``send(cursor)`` on a cursor of ``connection``'s driver connection; a driver error is
    raised as SQLAlchemy raises it (``_raised``)."""
    dbapi_connection = connection.connection.driver_connection
    assert dbapi_connection is not None  # a connection in use has one
    cursor = dbapi_connection.cursor()
    try:
        return send(cursor)
    except connection.dialect.loaded_dbapi.Error as error:
        raise _raised(connection, sql, values, error, cursor) from error
    finally:
        cursor.close()


def _done(cursor: Any) -> _Done:
    returned = cursor.fetchall() if cursor.description is not None else []
    return _Done(cursor.rowcount, returned)


def _insert_rows(cursor: Any, rows: _Rows, values: Sequence[Any]) -> int:
    """Insert ``values`` (each row's DBAPI parameters) in multi-row statements, in order."""
    count = 0
    for start in range(0, len(values), _ROWS_PER_STATEMENT):
        part = values[start : start + _ROWS_PER_STATEMENT]
        cursor.execute(rows.text(len(part)), rows.params(part))
        count += cursor.rowcount
    return count


def _plan(dialect: Dialect, statement: UpdateBase, sample: Params, many: bool) -> _Plan | None:
    key = (id(statement), dialect.name, tuple(sample), many)
    try:
        return _plans[key]
    except KeyError:
        if len(_plans) >= _MAX_PLANS:  # statements built per call: plan afresh
            _plans.clear()
        plan = _plans[key] = _compile(dialect, statement, list(sample), many)
        return plan


def _compile(dialect: Dialect, statement: UpdateBase, keys: list[str], many: bool) -> _Plan | None:
    """SQLAlchemy's compilation, or None where ``execute`` leaves the statement to it. An
    INSERT is compiled ``inline``: nobody asks for its primary key, so PostgreSQL is not
    asked to return it."""
    sent = statement
    if isinstance(statement, Insert) and not statement._returning:
        sent = statement.inline()
    compiled = sent.compile(dialect=dialect, column_keys=keys, for_executemany=many)
    assert isinstance(compiled, SQLCompiler)
    if not (compiled.isinsert or compiled.isupdate or compiled.isdelete):
        return None
    if compiled.literal_execute_params or compiled.post_compile_params:
        return None  # expanding parameters are rendered per execution
    if compiled.implicit_returning or compiled.postfetch or compiled.schema_translate_map:
        return None  # values the ORM would fetch back
    returning = compiled.effective_returning or ()
    if any(column.type._cached_result_processor(dialect, None) for column in returning):
        return None
    processors = compiled._bind_processors
    if not all(callable(process) for process in processors.values()):
        return None  # tuple-typed parameters
    defaults = []
    key_of = compiled._within_exec_param_key_getter
    for column in [*compiled.insert_prefetch, *compiled.update_prefetch]:
        if column.key in keys:
            continue
        default = column.default if compiled.isinsert else column.onupdate
        if default is None or not (default.is_scalar or default.is_callable):
            return None  # a SQL expression or sequence: SQLAlchemy's execution handles it
        arg: Any = default.arg  # type: ignore[attr-defined]
        defaults.append((key_of(column), arg if default.is_callable else _constant(arg)))
    return _Plan(
        statement=statement,
        compiled=compiled,
        positional=tuple(compiled.positiontup or ()) if compiled.positional else None,
        processors={name: process for name, process in processors.items() if callable(process)},
        defaults=tuple(defaults),
        rows=_rows(dialect, statement, compiled) if many else None,
        ctes={},
    )


def _rows(dialect: Dialect, statement: UpdateBase, compiled: SQLCompiler) -> _Rows | None:
    """How a plain INSERT (no RETURNING, ON CONFLICT or SELECT) sends many rows as one
    statement, for the placeholder styles whose rows can simply be repeated."""
    plain = (
        isinstance(statement, Insert)
        and not compiled.effective_returning
        and statement._post_values_clause is None
        and statement.select is None
    )
    head, values, row = compiled.string.rpartition(" VALUES (")
    if not (plain and values and row.endswith(")")):
        return None
    if dialect.paramstyle == "pyformat":
        named = True
    elif dialect.paramstyle in ("qmark", "format"):
        named = False
    else:
        return None
    return _Rows(head=f"{head} VALUES ", row=f"({row}", named=named, texts={})


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda _context: value


def _values(plan: _Plan, row: Params) -> list[Any] | dict[str, Any]:
    """One row's DBAPI parameters, as ``DefaultExecutionContext`` builds them."""
    bound = plan.compiled.construct_params(row, escape_names=False)
    if plan.defaults:
        context = _DefaultContext(bound)
        for name, make in plan.defaults:
            bound[name] = make(context)
    processors = plan.processors
    if plan.positional is not None:
        return [
            processors[name](bound[name]) if name in processors else bound[name]
            for name in plan.positional
        ]
    escaped = plan.compiled.escaped_bind_names
    return {
        escaped.get(name, name): processors[name](value) if name in processors else value
        for name, value in bound.items()
    }


def _raised(
    connection: Connection, sql: str, values: list[Any], error: Exception, cursor: Any
) -> exc.StatementError:
    """The driver's ``error`` as SQLAlchemy raises it; a lost connection invalidates the pool."""
    dialect = connection.dialect
    driver_error: Any = error  # one of the driver's exceptions (its own ``Error`` classes)
    lost = dialect.is_disconnect(driver_error, connection.connection.dbapi_connection, cursor)
    if lost:  # as SQLAlchemy does: the pool's other connections are as stale
        connection.engine.pool._invalidate(connection.connection, error)
        connection.invalidate(error)
    return exc.DBAPIError.instance(
        sql, values, error, dialect.loaded_dbapi.Error, connection_invalidated=lost,
        dialect=dialect,
    )  # fmt: skip
