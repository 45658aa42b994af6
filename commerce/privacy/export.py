"""Everything held about one user as one JSON document (GDPR articles 15 and 20): the OLTP
rows with PII opened, experiment assignments, the online store's keys and the warehouse
rows. A user with nothing stored gets the same document with empty sections."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, cast

import duckdb
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce.db import session_scope, utcnow
from commerce.db.models.notifications import NotificationPreference
from commerce.db.models.privacy import UserKey
from commerce.db.models.wishlists import Wishlist
from commerce.notifications import preferences
from commerce.orders import order_dict
from commerce.payments.service import payment_dict
from commerce.privacy import records
from shopflow.experiments.assignment import assign
from shopflow.experiments.config import load_experiments
from shopflow.online_store import keys

FORMAT = "shopflow.user-export/1"
WAREHOUSE_ROW_LIMIT = 10_000
"""Rows read per warehouse table (the document says when a table had more)."""


def export_user(
    user_id: str,
    client: redis.Redis | None,
    warehouse: Path | None,
    experiments_file: Path | None = None,
) -> dict[str, Any]:
    """The export document of ``user_id``; sections that cannot be read now (a locked
    warehouse, an unreachable Redis) say why instead of failing the export."""
    with session_scope() as session:
        doc: dict[str, Any] = {"format": FORMAT, "user_id": user_id,
                               "generated_at": utcnow().isoformat()}  # fmt: skip
        doc.update(_oltp(session, user_id))
    doc["experiment_assignments"] = _assignments(user_id, experiments_file)
    doc["online_store"] = online_store(client, user_id)
    doc["warehouse"] = warehouse_rows(warehouse, user_id)
    return doc


def _oltp(session: Session, user_id: str) -> dict[str, Any]:
    key = session.get(UserKey, user_id)
    prefs_row = session.get(NotificationPreference, user_id)
    payments = records.payments(session, user_id)
    wishlists = session.scalars(select(Wishlist).where(Wishlist.user_id == user_id)).all()
    out: dict[str, Any] = {
        "profile": {
            "contacts": (
                preferences.from_row(session, prefs_row).model_dump(mode="json")
                if prefs_row is not None
                else None
            ),
            "data_key": None
            if key is None
            else {
                "created_at": records.jsonable(key.created_at),
                "erased_at": records.jsonable(key.shredded_at),
            },
        },
        "orders": [order_dict(o) for o in records.orders(session, user_id)],
        "payments": [payment_dict(session, p) for p in payments],
        "payment_ledger": [
            records.row_dict(e) for e in records.ledger(session, [p.id for p in payments])
        ],
        "review_media": [
            {**records.row_dict(m), "url": f"/api/media/{m.id}"}
            for m in records.media(session, user_id)
        ],
        "wishlists": [
            {**records.row_dict(w), "items": [records.row_dict(i) for i in w.items]}
            for w in wishlists
        ],
    }
    for name, model in records.PLAIN.items():
        out[name] = [records.row_dict(r) for r in records.owned(session, model, user_id)]
    return out


def _assignments(user_id: str, path: Path | None) -> list[dict[str, Any]] | dict[str, str]:
    try:
        config = load_experiments(path)
    except Exception as exc:  # a broken file is reported, not fatal to the export
        return {"error": f"experiments file unreadable: {exc}"}
    found = [assign(e, user_id, only_running=False) for e in config.experiments]
    return [
        {"experiment": a.experiment_key, "variant": a.variant, "strategy": a.strategy}
        for a in found
        if a is not None
    ]


def online_store(client: redis.Redis | None, user_id: str) -> dict[str, Any]:
    """The user's Redis keys and values, or ``{"error": ...}`` when Redis cannot be read."""
    if client is None:
        return {"error": "no online store configured"}
    try:
        return {k: online_store_value(client, k) for k in owned_keys(client, user_id)}
    except (redis.RedisError, OSError) as exc:
        return {"error": f"online store unreadable: {exc}"}


def owned_keys(client: redis.Redis, user_id: str) -> list[str]:
    """The user's existing keys: the fixed ones and those matching their patterns."""
    found = [k for k in keys.user_owned(user_id) if client.exists(k)]
    for pattern in keys.user_owned_patterns(user_id):
        matched = (_text(k) for k in client.scan_iter(match=pattern, count=1000))
        found += [k for k in matched if keys.is_user_owned(k, user_id)]
    return sorted(set(found))


def _text(value: Any) -> str:
    """A Redis reply as text; binary values (packed features) as ``base64:...``."""
    if not isinstance(value, bytes):
        return str(value)
    try:
        return value.decode()
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(value).decode()


def online_store_value(client: redis.Redis, key: str) -> Any:
    """A key's value by its type (None for types the store does not use)."""
    kind = _text(client.type(key))
    if kind == "hash":
        return {_text(f): _text(v) for f, v in client.hgetall(key).items()}
    if kind == "zset":
        pairs = cast(list[tuple[Any, float]], client.zrange(key, 0, -1, withscores=True))
        return [[_text(member), float(score)] for member, score in pairs]
    if kind == "list":
        return [_text(v) for v in client.lrange(key, 0, -1)]
    if kind == "set":
        return sorted(_text(v) for v in client.smembers(key))
    if kind == "string":
        raw = _text(client.get(key))
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return None


def warehouse_rows(path: Path | None, user_id: str) -> dict[str, Any]:
    """Rows about the user in every warehouse table with a ``user_id`` column, read through
    a short read-only connection; a locked or missing file is reported in the document."""
    if path is None or not path.exists():
        return {"tables": {}, "note": "no warehouse yet"}
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        return {"error": f"warehouse unavailable (another process may hold it): {exc}"}
    try:
        tables: dict[str, Any] = {}
        for schema, table in _user_tables(con):
            cur = con.execute(
                f'select * from "{schema}"."{table}" where user_id = ? limit ?',
                [user_id, WAREHOUSE_ROW_LIMIT + 1],
            )
            names = [d[0] for d in cur.description]
            # any DuckDB value (decimals, intervals, nested types) as JSON
            rows = json.loads(
                json.dumps([dict(zip(names, r, strict=True)) for r in cur.fetchall()], default=str)
            )
            if rows:
                tables[f"{schema}.{table}"] = {
                    "rows": rows[:WAREHOUSE_ROW_LIMIT],
                    "truncated": len(rows) > WAREHOUSE_ROW_LIMIT,
                }
        return {"tables": tables}
    finally:
        con.close()


def _user_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(schema, table) of every base table with a ``user_id`` column."""
    return [
        (s, t)
        for s, t in con.execute(
            "select c.table_schema, c.table_name from information_schema.columns c "
            "join information_schema.tables t using (table_catalog, table_schema, table_name) "
            "where c.column_name = 'user_id' and t.table_type = 'BASE TABLE' "
            "order by 1, 2"
        ).fetchall()
    ]
