"""Bring-your-own-data importers: interaction logs and catalogs (CSV or Parquet) mapped onto
the event contract and landed through :mod:`shopflow.landing`.

All work is columnar (polars; DuckDB's ``md5`` for ids). The rules:

* a missing column fails at once, naming the column and the available ones; nothing lands;
* a column that fails on *every* row (unparseable times, no ids) fails the import too;
* otherwise unusable rows go to ``$SHOPFLOW_HOME/quarantine/imports/<file>-<kind>-<digest>.parquet``
  with the source columns, ``source_row`` and a ``reason``; negative quantities (e.g. UCI
  cancellations, invoices starting with "C") are quarantined as "cancellation/negative
  quantity" rather than mapped to refunds, since the source has no payment to refund;
* ``--rating-col`` lands each row as a ``rating`` event (explicit feedback) carrying the scale
  and positive threshold it was imported with, so every import keeps its own meaning; a
  value off the scale is quarantined, half stars and other fractions on it are valid;
* rows that land but deserve a look are *flagged* (counted in ``ImportReport.flagged``):
  items missing from the catalog landed so far, users with a single row;
* event ids are an md5 of the event type, the mapping options and the row's content (plus
  its occurrence number among identical rows), so importing the same file twice with the
  same options yields the same ids and the warehouse load, which dedups by ``event_id``,
  counts each row once; a re-import with a corrected mapping lands new events.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, cast

import duckdb
import polars as pl
import pyarrow as pa

from shopflow import events, landing
from shopflow.config import Settings, get_settings

ORDER = "order_placed"
SEP = "\x1f"
MAX_ID = 128
MAX_QUANTITY = 10_000
MINOR_DIGITS = {"JPY": 0}
CANCELLATION = "cancellation/negative quantity"
JSON_LINES = (".jsonl", ".ndjson", ".json")

_ALIASES = {
    "product_view": "view views productview pageview page_view detail click",
    "add_to_cart": "cart addtocart add_to_cart add basket",
    "remove_from_cart": "removefromcart remove_from_cart remove",
    ORDER: "purchase purchases order orders buy transaction order_placed",
    "wishlist_add": "wishlist wishlist_add wishlistadd like favorite favourite save",
}
EVENT_ALIASES: dict[str, str] = {
    alias.replace("_", ""): event_type
    for event_type, aliases in _ALIASES.items()
    for alias in aliases.split()
}
#: --weight-col: the event type with the largest interaction weight <= the row's weight.
WEIGHT_EVENTS: tuple[tuple[float, str], ...] = (
    (events.INTERACTION_WEIGHTS["purchase"], ORDER),
    (events.INTERACTION_WEIGHTS["add_to_cart"], "add_to_cart"),
    (events.INTERACTION_WEIGHTS["wishlist_add"], "wishlist_add"),
    (events.INTERACTION_WEIGHTS["product_view"], "product_view"),
)
TIME_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%d.%m.%Y %H:%M",
)


class ImportFailed(ValueError):
    """The input cannot be imported; nothing was landed."""


@dataclass
class ImportReport:
    kind: str
    source: Path
    rows_read: int = 0
    rows_landed: dict[str, int] = field(default_factory=dict)  # event type -> source rows
    events: dict[str, int] = field(default_factory=dict)  # event type -> events landed
    quarantined: dict[str, int] = field(default_factory=dict)  # reason -> rows
    flagged: dict[str, int] = field(default_factory=dict)  # landed but worth a look -> count
    quarantine_file: Path | None = None
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class InteractionColumns:
    user: str
    item: str
    time: str
    event: str | None = None
    weight: str | None = None
    quantity: str | None = None
    basket: str | None = None
    price: str | None = None


@dataclass(frozen=True)
class RatingColumn:
    """``--rating-col``: explicit ratings on ``scale`` (inclusive); >= ``positive_threshold``
    is a positive rating, below it a dislike."""

    column: str
    scale: tuple[float, float] = (0.5, 5.0)
    positive_threshold: float = 4.0


@dataclass(frozen=True)
class ReadOptions:
    """How to read a text file: ``sep`` (default by suffix: tab for .tsv, else comma),
    ``header`` (False: the first line is data), ``names`` (column names; implies no header;
    without them a headerless file has column_1, column_2, ...) and ``encoding``."""

    sep: str | None = None
    header: bool = True
    names: tuple[str, ...] | None = None
    encoding: str = "utf8-lossy"


@dataclass(frozen=True)
class CatalogColumns:
    id: str
    title: str | None = None
    description: str | None = None
    category: str | None = None
    brand: str | None = None
    price: str | None = None
    stock: str | None = None


# ---- interactions ----------------------------------------------------------------------------
def import_interactions(
    path: Path | str,
    columns: InteractionColumns,
    *,
    event_type: str | None = None,
    rating: RatingColumn | None = None,
    currency: str = "USD",
    time_format: str | None = None,
    time_zone: str = "UTC",
    read: ReadOptions | None = None,
    settings: Settings | None = None,
) -> ImportReport:
    """Import an interaction log: one event per row (a ``rating`` per row with ``rating``),
    or one ``order_placed`` per basket."""
    settings = settings or get_settings()
    path = Path(path)
    currency = _currency(currency)
    given = (("--event-col", columns.event), ("--weight-col", columns.weight),
             ("--event-type", event_type), ("--rating-col", rating))  # fmt: skip
    kinds = [option for option, value in given if value]
    if len(kinds) != 1:
        raise ImportFailed(
            "give exactly one of --event-col, --weight-col, --event-type or --rating-col"
            + (f" (got {', '.join(kinds)})" if kinds else "")
        )
    if rating:
        _check_rating_options(rating, columns)
    fixed = _event_type(event_type) if event_type else "rating" if rating else None
    raw = _read(path, read or ReadOptions())
    options = {
        "--user-col": columns.user, "--item-col": columns.item, "--time-col": columns.time,
        "--event-col": columns.event, "--weight-col": columns.weight,
        "--quantity-col": columns.quantity, "--basket-col": columns.basket,
        "--price-col": columns.price, "--rating-col": rating.column if rating else None,
    }  # fmt: skip
    _require(raw, options, path)
    report = ImportReport("interactions", path, rows_read=raw.height)
    checks = _Checks(raw.height)
    frame = raw.select(
        "_row",
        _id(columns.user).alias("user_id"),
        _id(columns.item).alias("item_id"),
        _key(raw).alias("_key"),
    )
    _check_ids(checks, columns.user, frame["user_id"], "user id")
    _check_ids(checks, columns.item, frame["item_id"], "item id")
    when = _checked_times(raw[columns.time], time_format, time_zone, checks, report)
    frame = frame.with_columns(occurred_at=when)

    if fixed:
        kind = pl.Series("event_type", [fixed] * raw.height, pl.String)
    elif columns.event:
        norm = raw[columns.event].str.to_lowercase().str.replace_all(r"[^a-z0-9]", "")
        kind = norm.replace_strict(EVENT_ALIASES, default=None, return_dtype=pl.String)
        checks.add(columns.event, "unknown event type", kind.is_null())
    else:
        assert columns.weight is not None  # validated above: exactly one of the three is set
        weight = raw[columns.weight].str.strip_chars().cast(pl.Float64, strict=False)
        checks.add(columns.weight, "unparseable weight", weight.is_null())
        checks.add(columns.weight, "weight below 1", weight < 1)
        kind = pl.select(_weight_event(weight)).to_series()
        report.notes.append(
            "--weight-col: weight >= 8 -> order_placed, >= 4 -> add_to_cart, "
            ">= 3 -> wishlist_add, >= 1 -> product_view"
        )
    frame = frame.with_columns(event_type=kind)
    if rating:
        frame = frame.with_columns(_ratings(raw[rating.column], rating, checks, report))

    if columns.quantity:
        qty = _number(raw[columns.quantity])
        checks.add(
            columns.quantity,
            "unparseable quantity",
            qty.is_null() & raw[columns.quantity].is_not_null(),
        )
        checks.add(columns.quantity, "missing quantity", raw[columns.quantity].is_null())
        checks.add(columns.quantity, CANCELLATION, qty < 0)
        checks.add(columns.quantity, "zero quantity", qty == 0)
        checks.add(columns.quantity, f"quantity above {MAX_QUANTITY}", qty > MAX_QUANTITY)
        frame = frame.with_columns(quantity=qty.round(0).cast(pl.Int64, strict=False))
    else:
        frame = frame.with_columns(quantity=pl.lit(1, pl.Int64))
    if columns.price:
        price = _number(raw[columns.price])
        checks.add(
            columns.price, "unparseable price", price.is_null() & raw[columns.price].is_not_null()
        )
        checks.add(columns.price, "missing price", raw[columns.price].is_null())
        checks.add(columns.price, "negative price", price < 0)
        minor = (price * 10 ** MINOR_DIGITS.get(currency, 2)).round(0).cast(pl.Int64, strict=False)
        frame = frame.with_columns(price_minor=minor)
    else:
        frame = frame.with_columns(price_minor=pl.lit(0, pl.Int64))
        if not rating:
            report.notes.append("no --price-col: prices are 0")
    if columns.basket:
        basket = _id(columns.basket)
        frame = frame.with_columns(basket=raw.select(basket).to_series())
        is_order = frame["event_type"] == ORDER
        checks.add(columns.basket, "missing basket id", frame["basket"].is_null() & is_order)

    good, bad = checks.split(frame, report)
    _flag(good, settings, report)
    mapping = repr((columns, fixed, currency, time_format, time_zone))
    if rating:  # ids of other imports stay as they were
        mapping += repr(rating)
    for etype, rows in good.partition_by("event_type", as_dict=True).items():
        name = str(etype[0])
        table, n_events = _interaction_table(name, rows, currency, bool(columns.basket), mapping)
        report.rows_landed[name] = rows.height
        report.events[name] = n_events
        report.files += _land(name, table, path, "interactions", settings)
    report.quarantine_file = _quarantine(raw, bad, path, "interactions", settings)
    return report


def _interaction_table(
    event_type: str, rows: pl.DataFrame, currency: str, baskets: bool, mapping: str
) -> tuple[pl.DataFrame, int]:
    rows = rows.sort("_row")
    line = pl.struct(
        pl.col("item_id"),
        pl.col("quantity"),
        pl.col("price_minor").alias("unit_price_minor"),
    )
    if event_type == ORDER and baskets:
        orders = (
            rows.group_by("user_id", "basket", maintain_order=True)
            .agg(
                pl.col("occurred_at").min(),
                line.alias("lines"),
                (pl.col("quantity") * pl.col("price_minor")).sum().alias("total_minor"),
                pl.col("_key").sort().str.join(SEP).alias("_key"),
            )
            .with_columns(
                order_id=pl.when(pl.col("user_id").n_unique().over("basket") > 1)
                .then(pl.concat_str("basket", pl.lit("-"), "user_id"))
                .otherwise(pl.col("basket"))
            )
        )
        frame = orders.with_columns(event_id=_md5(ORDER, orders["_key"], mapping))
    else:
        frame = rows.with_columns(event_id=_md5(event_type, rows["_key"], mapping))
        if event_type == ORDER:
            frame = frame.with_columns(
                order_id=pl.col("event_id"),
                lines=pl.concat_list(line),
                total_minor=pl.col("quantity") * pl.col("price_minor"),
            )
    frame = frame.with_columns(
        currency=pl.lit(currency),
        unit_price_minor=pl.col("price_minor") if "price_minor" in frame.columns else None,
        wishlist_id=pl.concat_str(pl.lit("wl-"), "user_id") if "user_id" in frame.columns else None,
        session_id=pl.lit(None, pl.String),
        rec_request_id=pl.lit(None, pl.String),
    )
    return frame, frame.height


def _check_rating_options(rating: RatingColumn, columns: InteractionColumns) -> None:
    _check_scale(rating.scale)
    low, high = rating.scale
    if not low <= rating.positive_threshold <= high:
        raise ImportFailed(
            f"--positive-threshold {rating.positive_threshold:g} is off the scale {low:g}..{high:g}"
        )
    extra = [o for o, v in (("--quantity-col", columns.quantity), ("--basket-col", columns.basket),
                            ("--price-col", columns.price)) if v]  # fmt: skip
    if extra:
        raise ImportFailed(f"{', '.join(extra)} do not apply to --rating-col")


def _ratings(
    values: pl.Series, rating: RatingColumn, checks: _Checks, report: ImportReport
) -> list[pl.Series]:
    """The rating payload columns; missing, unparseable and off-scale values are checked."""
    low, high = rating.scale
    score = _number(values)
    name = rating.column
    checks.add(name, "missing rating", values.is_null())
    checks.add(
        name, "unparseable rating", values.is_not_null() & (score.is_null() | score.is_nan())
    )
    checks.add(name, f"rating off the scale {low:g}..{high:g}", (score < low) | (score > high))
    report.notes.append(
        f"--rating-col: ratings on {low:g}..{high:g}; >= {rating.positive_threshold:g} "
        "is positive, below it a dislike (kept on each rating event)"
    )
    n = len(values)
    return [
        score.alias("rating"),
        pl.repeat(low, n, dtype=pl.Float64, eager=True).alias("scale_min"),
        pl.repeat(high, n, dtype=pl.Float64, eager=True).alias("scale_max"),
        pl.repeat(rating.positive_threshold, n, dtype=pl.Float64, eager=True).alias(
            "positive_threshold"
        ),
    ]


def _flag(good: pl.DataFrame, settings: Settings, report: ImportReport) -> None:
    """Count landed rows worth a look: items not in the catalog, users with one row."""
    catalog = _catalog_items(settings)
    if catalog is None:
        report.notes.append("no catalog landed yet: item ids were not checked against one")
    else:
        unknown = good.filter(pl.col("item_id").is_in(catalog).not_())["item_id"]
        if len(unknown):
            items = unknown.unique().sort()
            report.flagged["rows naming an item not in the catalog"] = len(unknown)
            report.notes.append(
                f"{len(items)} item{'s are' if len(items) > 1 else ' is'} not in the catalog "
                f"(e.g. {', '.join(items.head(5))}); "
                "their rows landed, and the warehouse flags them until the catalog has them"
            )
    single = good.group_by("user_id").len().filter(pl.col("len") == 1).height
    if single:
        report.flagged["users with a single row"] = single


def _catalog_items(settings: Settings) -> pl.Series | None:
    """Item ids of every product.upserted landed so far; None when there are none."""
    files = sorted(landing.event_dir("product.upserted", settings).glob("*/*.parquet"))
    if not files:
        return None
    return pl.scan_parquet(files).select("item_id").unique().collect()["item_id"]


def _weight_event(weight: pl.Series) -> pl.Expr:
    expr = pl.lit(None, pl.String)
    for threshold, event_type in reversed(WEIGHT_EVENTS):
        expr = pl.when(pl.lit(weight) >= threshold).then(pl.lit(event_type)).otherwise(expr)
    return expr


# ---- catalog ---------------------------------------------------------------------------------
def import_catalog(
    path: Path | str,
    columns: CatalogColumns,
    *,
    currency: str = "USD",
    price_minor: bool = False,
    default_stock: int = 100,
    read: ReadOptions | None = None,
    settings: Settings | None = None,
) -> ImportReport:
    """Import a product catalog as ``product.upserted`` events (occurred now)."""
    settings = settings or get_settings()
    path = Path(path)
    currency = _currency(currency)
    if default_stock < 0:
        raise ImportFailed(f"--default-stock must be 0 or more (got {default_stock})")
    raw = _read(path, read or ReadOptions())
    options = {
        "--id-col": columns.id, "--title-col": columns.title,
        "--description-col": columns.description, "--category-col": columns.category,
        "--brand-col": columns.brand, "--price-col": columns.price, "--stock-col": columns.stock,
    }  # fmt: skip
    _require(raw, options, path)
    report = ImportReport("catalog", path, rows_read=raw.height)
    checks = _Checks(raw.height)
    frame = raw.select("_row", _id(columns.id).alias("item_id"), _key(raw).alias("_key"))
    _check_ids(checks, columns.id, frame["item_id"], "item id")

    def text(col: str | None) -> pl.Series:
        if col is None:
            return pl.Series([None] * raw.height, dtype=pl.String)
        return raw[col].cast(pl.String).str.strip_chars().replace("", None)

    parts = text(columns.category).str.split(">").list.eval(pl.element().str.strip_chars())
    parts = parts.list.eval(pl.element().filter(pl.element() != ""))
    category = parts.list.last()
    n_uncategorized = int(category.is_null().sum())
    if n_uncategorized:
        what = "no --category-col" if columns.category is None else f"{n_uncategorized} rows"
        report.notes.append(f"{what}: category set to 'uncategorized'")
    title = text(columns.title)
    frame = frame.with_columns(
        category=category.fill_null("uncategorized"),
        category_path=parts.list.join(" > ").fill_null("uncategorized"),
        description=text(columns.description).fill_null(""),
        brand=text(columns.brand).fill_null(""),
    )
    frame = frame.with_columns(
        title=title.fill_null(pl.concat_str(frame["category"], pl.lit(" "), frame["item_id"]))
    )
    if columns.title is None:
        report.notes.append("no --title-col: titles default to '<category> <item id>'")
    elif (n_titles := int(title.is_null().sum())) > 0:
        report.notes.append(f"{n_titles} rows without a title: '<category> <item id>' used")

    if columns.price:
        price = _number(raw[columns.price])
        checks.add(
            columns.price, "unparseable price", price.is_null() & raw[columns.price].is_not_null()
        )
        checks.add(columns.price, "missing price", raw[columns.price].is_null())
        checks.add(columns.price, "negative price", price < 0)
        scale = 1 if price_minor else 10 ** MINOR_DIGITS.get(currency, 2)
        frame = frame.with_columns(
            price_minor=(price * scale).round(0).cast(pl.Int64, strict=False)
        )
    else:
        frame = frame.with_columns(price_minor=pl.lit(0, pl.Int64))
        report.notes.append("no --price-col: prices are 0")
    if columns.stock:
        stock = _number(raw[columns.stock])
        checks.add(
            columns.stock, "unparseable stock", stock.is_null() & raw[columns.stock].is_not_null()
        )
        checks.add(columns.stock, "negative stock", stock < 0)
        frame = frame.with_columns(
            stock=stock.round(0).cast(pl.Int64, strict=False).fill_null(default_stock)
        )
    else:
        frame = frame.with_columns(stock=pl.lit(default_stock, pl.Int64))
    later = frame.select(
        pl.col("item_id").is_not_null() & pl.col("item_id").is_last_distinct().not_()
    ).to_series()
    checks.add(None, "duplicate item id (a later row wins)", later)

    good, bad = checks.split(frame, report)
    mapping = repr((columns, currency, price_minor, default_stock))
    now = datetime.now(UTC).replace(tzinfo=None)
    table = good.with_columns(
        event_id=_md5("product.upserted", good["_key"], mapping),
        occurred_at=pl.lit(now, pl.Datetime("us")).dt.replace_time_zone("UTC"),
        user_id=pl.lit(None, pl.String),
        session_id=pl.lit(None, pl.String),
        currency=pl.lit(currency),
    )
    report.rows_landed["product.upserted"] = report.events["product.upserted"] = table.height
    report.files += _land("product.upserted", table, path, "catalog", settings)
    report.quarantine_file = _quarantine(raw, bad, path, "catalog", settings)
    return report


# ---- shared ----------------------------------------------------------------------------------
class _Checks:
    """Per-row failure reasons; a column failing on every row fails the whole import."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.items: list[tuple[str | None, str, pl.Series]] = []

    def add(self, column: str | None, reason: str, failed: pl.Series) -> None:
        failed = failed.fill_null(False)
        if self.rows and column is not None and int(failed.sum()) == self.rows:
            raise ImportFailed(f"{reason} in all {self.rows} rows of column {column!r}")
        self.items.append((column, reason, failed))

    def split(self, frame: pl.DataFrame, report: ImportReport) -> tuple[pl.DataFrame, pl.DataFrame]:
        reasons = (
            pl.DataFrame({f"r{i}": failed for i, (_, _, failed) in enumerate(self.items)}).select(
                pl.concat_str(
                    [
                        pl.when(pl.col(f"r{i}")).then(pl.lit(r))
                        for i, (_, r, _) in enumerate(self.items)
                    ],
                    separator="; ",
                    ignore_nulls=True,
                ).alias("reason")
            )
            if self.items
            else pl.DataFrame({"reason": [""] * frame.height})
        )
        frame = frame.with_columns(reason=reasons["reason"].fill_null(""))
        good, bad = frame.filter(pl.col("reason") == ""), frame.filter(pl.col("reason") != "")
        if good.height == 0:
            summary = ", ".join(f"{r}: {n}" for r, n in _counts(bad["reason"]).items())
            raise ImportFailed(f"none of the {frame.height} rows can be imported ({summary})")
        report.quarantined = _counts(bad["reason"])
        return good, bad


def _counts(reasons: pl.Series) -> dict[str, int]:
    counts = reasons.value_counts(sort=True)
    return dict(zip(counts[reasons.name].to_list(), counts["count"].to_list(), strict=True))


def _read(path: Path, options: ReadOptions) -> pl.DataFrame:
    if not path.is_file():
        raise ImportFailed(f"no such file: {path}")
    suffix = path.suffix.lower()
    if options.sep is not None and len(options.sep) != 1:
        raise ImportFailed(f"--sep must be one character or 'tab' (got {options.sep!r})")
    try:
        if suffix in (".parquet", ".pq"):
            frame = pl.read_parquet(path)
        elif suffix in JSON_LINES:
            frame = _flat_json(pl.read_ndjson(path, infer_schema_length=None))
        elif suffix in (".csv", ".tsv", ".txt") or options.sep:
            frame = pl.read_csv(
                path, infer_schema=False, encoding=options.encoding,
                separator=options.sep or ("\t" if suffix == ".tsv" else ","),
                has_header=options.header and not options.names, truncate_ragged_lines=True,
            )  # fmt: skip
        else:
            raise ImportFailed(
                f"{path.name}: unsupported file type (use .csv, .tsv, .jsonl or .parquet, "
                "or give --sep for another text file)"
            )
    except (pl.exceptions.PolarsError, OSError, LookupError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"cannot read {path.name}: {exc}") from exc
    if options.names:
        if len(options.names) != frame.width:
            raise ImportFailed(
                f"--names gives {len(options.names)} names but {path.name} has "
                f"{frame.width} columns"
            )
        frame.columns = list(options.names)
    elif not options.header and suffix not in (".parquet", ".pq", *JSON_LINES):
        frame.columns = [f"column_{n}" for n in range(1, frame.width + 1)]
    frame = frame.rename({c: c.lstrip("\ufeff") for c in frame.columns})
    if frame.height == 0:
        raise ImportFailed(f"{path.name} has no rows")
    return frame.with_row_index("_row")


def _flat_json(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested JSON values as text: a list of scalars joined by spaces (e.g. image URLs), any
    other nested value as its JSON."""
    out = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.List) and not dtype.inner.is_nested():
            out.append(col.list.eval(pl.element().cast(pl.String)).list.join(" ").alias(name))
        elif isinstance(dtype, pl.Struct):
            out.append(col.struct.json_encode().alias(name))
        elif dtype.is_nested():
            out.append(pl.struct(col).struct.json_encode().alias(name))
        else:
            out.append(col)
    return frame.select(out)


def _require(frame: pl.DataFrame, options: dict[str, str | None], path: Path) -> None:
    available = [c for c in frame.columns if c != "_row"]
    for option, column in options.items():
        if column is not None and column not in available:
            raise ImportFailed(
                f"column {column!r} ({option}) is not in {path.name}; "
                f"available columns: {', '.join(available)}"
            )


def _id(column: str) -> pl.Expr:
    """Trimmed string ids; "17850.0" -> "17850"; empty -> null."""
    return (
        pl.col(column)
        .cast(pl.String)
        .str.strip_chars()
        .str.replace(r"^(-?\d+)\.0+$", "$1")
        .replace("", None)
    )


def _key(frame: pl.DataFrame) -> pl.Expr:
    """Row identity: all source columns plus the occurrence number among identical rows."""
    cols = [pl.col(c).cast(pl.String).fill_null("\x00") for c in frame.columns if c != "_row"]
    content = pl.concat_str(cols, separator=SEP)
    return pl.concat_str(content, pl.lit(SEP), content.cum_count().over(content).cast(pl.String))


def _md5(event_type: str, keys: pl.Series, mapping: str) -> pl.Series:
    prefix = SEP.join((event_type, mapping, ""))
    prefixed = pl.DataFrame({"k": keys}).select(pl.concat_str(pl.lit(prefix), "k"))
    table = pa.table({"k": prefixed.to_series().to_arrow()})
    con = duckdb.connect()
    con.register("keys", table)
    hashed = con.sql("SELECT 'imp-' || md5(k) AS h FROM keys").to_arrow_table()["h"]
    con.close()
    return pl.Series("event_id", hashed.combine_chunks().cast(pa.string()))


def _number(values: pl.Series) -> pl.Series:
    text = values.cast(pl.String).str.strip_chars().str.strip_chars_start("$£€ ")
    return text.cast(pl.Float64, strict=False)


def _check_ids(checks: _Checks, column: str | None, ids: pl.Series, what: str) -> None:
    """Quarantine rows whose ``what`` (e.g. "item id") is missing or over MAX_ID characters."""
    checks.add(column, f"missing {what}", ids.is_null())
    checks.add(column, f"{what} longer than {MAX_ID}", ids.str.len_chars() > MAX_ID)


def _checked_times(
    values: pl.Series,
    time_format: str | None,
    time_zone: str,
    checks: _Checks,
    report: ImportReport,
) -> pl.Series:
    """UTC times of a time column; missing, unparseable and future times are quarantined."""
    when, note = _times(values, time_format, time_zone)
    if note:
        report.notes.append(note)
    checks.add(values.name, "unparseable time", when.is_null() & values.is_not_null())
    checks.add(values.name, "missing time", values.is_null())
    checks.add(values.name, "time in the future", when > datetime.now(UTC) + timedelta(days=1))
    return when


def _check_scale(scale: tuple[float, float]) -> None:
    low, high = scale
    if not low < high:
        raise ImportFailed(
            f"--rating-scale must be LOW,HIGH with LOW < HIGH (got {low:g},{high:g})"
        )


def _times(
    values: pl.Series, time_format: str | None, time_zone: str
) -> tuple[pl.Series, str | None]:
    """UTC timestamps; naive values are read in ``time_zone``. Unparseable -> null."""
    if isinstance(values.dtype, pl.Datetime):
        out = values if values.dtype.time_zone else values.dt.replace_time_zone(time_zone)
        return out.dt.convert_time_zone("UTC").dt.cast_time_unit("us"), None
    if values.dtype.is_numeric():
        values = values.cast(pl.String)
    text = values.cast(pl.String).str.strip_chars().str.replace(r"Z$", "+00:00")
    digits = text.drop_nulls()
    if time_format is None and len(digits) and bool(digits.str.contains(r"^\d{9,17}$").all()):
        number = text.cast(pl.Int64, strict=False)
        peak = cast(int, number.max() or 0)  # the max of an Int64 column
        unit: Literal["us", "ms", "s"] = "us" if peak > 10**14 else "ms" if peak > 10**11 else "s"
        return pl.select(pl.from_epoch(number, time_unit=unit)).to_series().dt.replace_time_zone(
            "UTC"
        ), f"time: epoch {unit}"
    formats = (time_format,) if time_format else TIME_FORMATS
    best, best_count, best_format = None, -1, None
    for fmt in formats:
        try:
            parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
        except pl.exceptions.PolarsError as exc:
            raise ImportFailed(f"bad --time-format {fmt!r}: {exc}") from exc
        count = len(parsed) - parsed.null_count()
        if count > best_count:
            best, best_count, best_format = parsed, count, fmt
    assert best is not None
    if isinstance(best.dtype, pl.Datetime) and best.dtype.time_zone is None:
        try:
            best = best.dt.replace_time_zone(time_zone, ambiguous="earliest", non_existent="null")
        except pl.exceptions.PolarsError as exc:
            raise ImportFailed(f"unknown --time-zone {time_zone!r}") from exc
    note = None if time_format else f"time format: {best_format} (detected)"
    return best.dt.convert_time_zone("UTC"), note


def _event_type(value: str) -> str:
    found = EVENT_ALIASES.get(value.lower().replace("-", "").replace("_", ""))
    if found is None:
        known = ", ".join(sorted({a for a in _ALIASES}))
        raise ImportFailed(f"unknown --event-type {value!r}; use one of: {known} (or an alias)")
    return found


def _currency(currency: str) -> str:
    code = currency.upper()
    if code not in events.SUPPORTED_CURRENCIES:
        known = ", ".join(sorted(events.SUPPORTED_CURRENCIES))
        raise ImportFailed(f"unsupported --currency {currency!r}; use one of: {known}")
    return code


def _digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=4)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _land(
    event_type: str, frame: pl.DataFrame, path: Path, kind: str, settings: Settings
) -> list[Path]:
    frame = frame.with_columns(
        event_type=pl.lit(event_type), schema_version=pl.lit(events.SCHEMA_VERSION, pl.Int64)
    )
    schema = events.arrow_schema(event_type)
    missing = [n for n in schema.names if n not in frame.columns]
    frame = frame.with_columns([pl.lit(None).alias(n) for n in missing]).select(schema.names)
    table = frame.to_arrow().cast(schema)
    return landing.write_table(event_type, table, settings, prefix=f"import-{kind}-{_digest(path)}")


def _quarantine(
    raw: pl.DataFrame, bad: pl.DataFrame, path: Path, kind: str, settings: Settings
) -> Path | None:
    if bad.height == 0:
        return None
    rows = raw.join(bad.select("_row", "reason"), on="_row", how="inner").sort("_row")
    rows = rows.select(
        pl.col("_row").alias("source_row"),
        *[pl.col(c).cast(pl.String) for c in raw.columns if c != "_row"],
        "reason",
    )
    directory = settings.import_quarantine_dir
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"{path.stem}-{kind}-{_digest(path)}.parquet"
    tmp = directory / f".{final.name}.tmp"
    rows.write_parquet(tmp)
    os.replace(tmp, final)
    return final
