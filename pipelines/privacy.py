"""Erasure beyond the OLTP store: the users' rows leave the landing Parquet files and the
warehouse, and personal fields (``events.PII``) that older files still carry are dropped.
Called by the ``privacy_erasure`` Dagster job and by ``shopflow privacy erase``."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from commerce.db import get_engine, session_scope
from commerce.db.models.privacy import ErasureRequest
from commerce.privacy import erasure
from shopflow import events

PII_COLUMNS = frozenset().union(*(events.pii_fields(t) for t in events.PAYLOADS))


def erase_files(root: Path, user_ids: Sequence[str]) -> int:
    """Rewrite every Parquet file under ``root`` without the users' rows and without PII
    columns (temp name, then rename; a file left empty is deleted). Returns rows removed."""
    removed = 0
    wanted = pa.array(list(user_ids), pa.string())
    for path in sorted(root.rglob("*.parquet")) if root.exists() else []:
        names = set(pq.read_schema(path).names)
        pii = sorted(PII_COLUMNS & names)
        if "user_id" not in names and not pii:
            continue
        table = pq.read_table(path)
        keep = (
            pc.invert(pc.fill_null(pc.is_in(table["user_id"], value_set=wanted), False))
            if "user_id" in names
            else None
        )
        hits = 0 if keep is None else len(table) - pc.sum(keep.cast(pa.int64())).as_py()
        if not hits and not pii:
            continue
        if keep is not None:
            table = table.filter(keep)
        table = table.drop_columns(pii)
        removed += hits
        if len(table) == 0:
            path.unlink()
            continue
        tmp = path.with_name(f".{path.name}.erasing")
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    return removed


def erase_warehouse(con: duckdb.DuckDBPyConnection, user_ids: Sequence[str]) -> int:
    """Delete the users' rows from every warehouse table with a ``user_id`` column and null
    PII columns left by older loads. Returns rows removed."""
    removed = 0
    columns = con.execute(
        "select c.table_schema, c.table_name, c.column_name "
        "from information_schema.columns c join information_schema.tables t "
        "using (table_catalog, table_schema, table_name) where t.table_type = 'BASE TABLE'"
    ).fetchall()
    for schema, table, column in columns:
        relation = f'"{schema}"."{table}"'
        if column == "user_id":
            marks = ", ".join("?" for _ in user_ids)
            row = con.execute(
                f"delete from {relation} where user_id in ({marks})", list(user_ids)
            ).fetchone()
            removed += int(row[0]) if row else 0
        elif column in PII_COLUMNS:
            con.execute(f'update {relation} set "{column}" = null')
    con.execute("checkpoint")
    return removed


def run_pending(
    landing_roots: Sequence[Path],
    warehouse: Path,
    connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]] | None = None,
) -> dict[str, int]:
    """Finish every erasure waiting for the pipeline: landing first, then the warehouse
    (opened by ``connect``, default a plain connection; skipped while the file does not
    exist), each step recorded on the request. Returns {request id: rows removed}."""
    connect = connect or (lambda: duckdb.connect(str(warehouse)))
    if not sa.inspect(get_engine()).has_table(ErasureRequest.__tablename__):
        return {}  # no commerce database here (a warehouse-only deployment): nothing erased
    with session_scope() as session:
        pending = [(r.id, r.user_id, list(r.steps)) for r in erasure.pending_pipeline(session)]
    done: dict[str, int] = {}
    for request_id, user_id, steps in pending:
        total = 0
        for step in erasure.PIPELINE_STEPS:
            if step in steps:
                continue
            if step == "landing":
                count = sum(erase_files(root, [user_id]) for root in landing_roots)
            elif warehouse.exists():
                with connect() as con:
                    count = erase_warehouse(con, [user_id])
            else:
                count = 0
            with session_scope() as session:
                req = erasure.locked(session, request_id)
                erasure.mark_done(req, step, count)
            total += count
        done[request_id] = total
    return done
