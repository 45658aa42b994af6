"""Landing Parquet -> DuckDB ``raw.*`` tables, validated, deduplicated and incremental.

Pure DuckDB logic with no Dagster in it: the ``raw_events`` asset calls :func:`load_landing`.
Every step is set-based SQL over ``read_parquet`` of the new files:

* ``raw.<table_name(event_type)>`` holds the rows that pass ``events.contract_checks``,
  one per ``event_id`` (reloading a file or a duplicate event inserts nothing);
* ``raw.quarantine`` holds every row that breaks the contract, with all its reasons;
* ``raw._loaded_files`` remembers (path, size, mtime, rows) so a rerun reads only new files;
* ``raw.event_weights`` mirrors ``events.INTERACTION_WEIGHTS`` for dbt.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from shopflow import events
from shopflow.landing import PARTITION_KEY

SCHEMA = "raw"
QUARANTINE = f"{SCHEMA}.quarantine"
LOADED_FILES = f"{SCHEMA}._loaded_files"
EVENT_WEIGHTS = f"{SCHEMA}.event_weights"
SOURCE_COL = "_source_file"
LOADED_AT_COL = "_loaded_at"


@dataclass
class TypeStats:
    """What one load did for one event type."""

    files: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    duplicates_skipped: int = 0


@dataclass
class LoadReport:
    by_type: dict[str, TypeStats] = field(default_factory=dict)

    def total(self) -> TypeStats:
        total = TypeStats()
        for stats in self.by_type.values():
            for name, value in asdict(stats).items():
                setattr(total, name, getattr(total, name) + value)
        return total


def raw_table(event_type: str) -> str:
    return f"{SCHEMA}.{events.table_name(event_type)}"


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw schema, bookkeeping tables and one table per event type if missing."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {QUARANTINE} (
            event_type VARCHAR, event_id VARCHAR, source_file VARCHAR, reason VARCHAR,
            row JSON, quarantined_at TIMESTAMPTZ)"""
    )
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {LOADED_FILES} (
            path VARCHAR, size BIGINT, mtime DOUBLE, event_type VARCHAR, rows BIGINT,
            loaded_at TIMESTAMPTZ, PRIMARY KEY (path, size, mtime))"""
    )
    for event_type in events.PAYLOADS:
        empty = events.arrow_schema(event_type).empty_table()
        con.register("_empty_landing", empty)
        con.execute(
            f"""CREATE TABLE IF NOT EXISTS {raw_table(event_type)} AS
            SELECT *, NULL::VARCHAR AS {SOURCE_COL}, NULL::TIMESTAMPTZ AS {LOADED_AT_COL}
            FROM _empty_landing LIMIT 0"""
        )
        con.unregister("_empty_landing")


def write_event_weights(con: duckdb.DuckDBPyConnection) -> None:
    """Mirror ``events.INTERACTION_WEIGHTS`` (the one home of the weights) for dbt.

    ``raw_table`` names each type's raw table (NULL for ``purchase``: one order line);
    ``changed_at`` moves only when the weights change, which tells the incremental
    ``fct_interactions`` to recompute every pair."""
    weights = pa.table(
        {
            "event_type": list(events.INTERACTION_WEIGHTS),
            "weight": pa.array(list(events.INTERACTION_WEIGHTS.values()), pa.float64()),
            "raw_table": [
                events.table_name(t) if t in events.PAYLOADS else None
                for t in events.INTERACTION_WEIGHTS
            ],
        }
    )
    if _stored_weights(con) == set(zip(*weights.to_pydict().values(), strict=True)):
        return
    con.register("_weights", weights)
    con.execute(
        f"CREATE OR REPLACE TABLE {EVENT_WEIGHTS} AS SELECT *, now() AS changed_at FROM _weights"
    )
    con.unregister("_weights")


def _stored_weights(con: duckdb.DuckDBPyConnection) -> set[tuple] | None:
    """(event_type, weight, raw_table) rows of raw.event_weights; None if it has another shape."""
    columns = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = 'event_weights' ORDER BY ordinal_position",
        [SCHEMA],
    ).fetchall()
    if [c for (c,) in columns] != ["event_type", "weight", "raw_table", "changed_at"]:
        return None
    return set(con.execute(f"SELECT event_type, weight, raw_table FROM {EVENT_WEIGHTS}").fetchall())


def landing_files(landing_dir: Path, event_type: str) -> list[tuple[str, int, float]]:
    """(path, size, mtime) of every finished landing file of one event type."""
    folder = landing_dir / events.table_name(event_type)
    found = []
    for path in sorted(folder.glob(f"{PARTITION_KEY}=*/*.parquet")):
        if path.name.startswith("."):  # a temp file still being written
            continue
        stat = path.stat()
        found.append((str(path), stat.st_size, stat.st_mtime))
    return found


def new_files(
    con: duckdb.DuckDBPyConnection, files: list[tuple[str, int, float]]
) -> list[tuple[str, int, float]]:
    if not files:
        return []
    con.register("_candidates", _files_table(files))
    rows = con.execute(
        f"""SELECT c.path, c.size, c.mtime FROM _candidates c
        ANTI JOIN {LOADED_FILES} l USING (path, size, mtime) ORDER BY c.path"""
    ).fetchall()
    con.unregister("_candidates")
    return [(str(p), int(s), float(m)) for p, s, m in rows]


def _landing_columns(con: duckdb.DuckDBPyConnection, event_type: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of the landing columns of an event type's raw table."""
    target = con.execute(f"DESCRIBE {raw_table(event_type)}").fetchall()
    return [(r[0], r[1]) for r in target if r[0] not in (SOURCE_COL, LOADED_AT_COL)]


def _files_table(files: list[tuple[str, int, float]]) -> pa.Table:
    return pa.table(
        {
            "path": [f[0] for f in files],
            "size": pa.array([f[1] for f in files], pa.int64()),
            "mtime": pa.array([f[2] for f in files], pa.float64()),
        }
    )


def _batch_select(con: duckdb.DuckDBPyConnection, event_type: str, paths: list[str]) -> str:
    """SELECT of the new files cast to the raw table's types; absent columns become NULL."""
    source = f"read_parquet({_sql_list(paths)}, union_by_name = true, filename = '{SOURCE_COL}')"
    present = {row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    columns = []
    for name, col_type in _landing_columns(con, event_type):
        expr = f'"{name}"' if name in present else "NULL"
        columns.append(f'CAST({expr} AS {col_type}) AS "{name}"')
    return f"SELECT {', '.join(columns)}, {SOURCE_COL} FROM {source}"


def _reasons_expr(event_type: str) -> str:
    cases = [
        f"CASE WHEN ({predicate}) THEN {_sql_str(reason)} END"
        for predicate, reason in events.contract_checks(event_type)
    ]
    return f"concat_ws('; ', {', '.join(cases)})"


def load_event_type(
    con: duckdb.DuckDBPyConnection, event_type: str, landing_dir: Path
) -> TypeStats:
    """Load the new landing files of one event type in one transaction."""
    stats = TypeStats()
    files = new_files(con, landing_files(landing_dir, event_type))
    if not files:
        return stats
    stats.files = len(files)
    paths = [p for p, _, _ in files]
    table = raw_table(event_type)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _batch AS
            SELECT *, {_reasons_expr(event_type)} AS _reasons
            FROM ({_batch_select(con, event_type, paths)})"""
        )
        stats.rows_read = _count(con, "SELECT count(*) FROM _batch")
        stats.rows_quarantined = _count(
            con,
            f"""INSERT INTO {QUARANTINE}
            SELECT {_sql_str(event_type)}, b.event_id, b.{SOURCE_COL}, b._reasons,
                   {_row_json(con, event_type)}, now()
            FROM _batch b
            WHERE b._reasons <> ''
              AND NOT EXISTS (SELECT 1 FROM {QUARANTINE} q
                  WHERE q.event_type = {_sql_str(event_type)}
                    AND q.source_file = b.{SOURCE_COL}
                    AND q.event_id IS NOT DISTINCT FROM b.event_id)""",
        )
        good = stats.rows_read - _count(con, "SELECT count(*) FROM _batch WHERE _reasons <> ''")
        # Duplicate ids within the batch are rare: rank only those rows, pass the rest through.
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _dup_ids AS
            SELECT event_id FROM _batch WHERE _reasons = '' GROUP BY 1 HAVING count(*) > 1"""
        )
        stats.rows_loaded = _count(
            con,
            f"""INSERT INTO {table} BY NAME
            SELECT * EXCLUDE (_reasons), now() AS {LOADED_AT_COL}
            FROM (
                SELECT b.* FROM _batch b ANTI JOIN _dup_ids d USING (event_id)
                WHERE b._reasons = ''
                UNION ALL BY NAME
                SELECT * FROM (
                    SELECT b.* FROM _batch b SEMI JOIN _dup_ids d USING (event_id)
                    WHERE b._reasons = ''
                    QUALIFY row_number() OVER (
                        PARTITION BY b.event_id ORDER BY b.{SOURCE_COL}) = 1
                )
            ) b
            ANTI JOIN {table} t USING (event_id)""",
        )
        stats.duplicates_skipped = good - stats.rows_loaded
        con.register("_files", _files_table(files))
        con.execute(
            f"""INSERT OR REPLACE INTO {LOADED_FILES}
            SELECT f.path, f.size, f.mtime, {_sql_str(event_type)}, coalesce(n.rows, 0), now()
            FROM _files f LEFT JOIN (
                SELECT {SOURCE_COL} AS path, count(*) AS rows FROM _batch GROUP BY 1
            ) n USING (path)"""
        )
        con.unregister("_files")
        con.execute("DROP TABLE _batch")
        con.execute("DROP TABLE _dup_ids")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return stats


def load_landing(con: duckdb.DuckDBPyConnection, landing_dir: Path) -> LoadReport:
    """Load every new landing file of every event type. Safe to rerun at any time."""
    ensure_tables(con)
    write_event_weights(con)
    report = LoadReport()
    for event_type in events.PAYLOADS:
        report.by_type[event_type] = load_event_type(con, event_type, landing_dir)
    return report


def _row_json(con: duckdb.DuckDBPyConnection, event_type: str) -> str:
    fields = ", ".join(f'"{n}" := b."{n}"' for n, _ in _landing_columns(con, event_type))
    return f"to_json(struct_pack({fields}))"


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join(_sql_str(v) for v in values) + "]"
