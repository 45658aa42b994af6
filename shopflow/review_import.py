"""``shopflow import reviews``: a shop's existing reviews (CSV, TSV, JSON Lines, Parquet) as
review events in the landing zone, plus the rows the OLTP store needs to show them.

Each usable row lands as ``review.submitted`` followed by ``review.approved`` (genuine or
unlabelled) or ``review.rejected`` with reason ``spam`` (labelled spam), so the spam
classifier's labels (dbt ``stg_review_labels``) see imported labels exactly like moderators'
decisions. Ratings on any numeric scale are mapped linearly onto 1-5 stars.

Review ids are an md5 of the source id (``--id-col``) or of the row's content, so a
re-import of the same file gives the same ids; event ids add the mapping options. Unusable
rows go to the quarantine file with the reason, like the other importers.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from shopflow.config import Settings, get_settings
from shopflow.importers import (
    ImportFailed,
    ImportReport,
    ReadOptions,
    _check_ids,
    _check_scale,
    _checked_times,
    _Checks,
    _id,
    _key,
    _land,
    _md5,
    _number,
    _quarantine,
    _read,
    _require,
)

MAX_TITLE = 200
SPAM_VALUES = ("1", "true", "yes", "y", "spam", "fake", "deceptive")
GENUINE_VALUES = ("0", "false", "no", "n", "genuine", "ham", "truthful", "real")
TRUE_VALUES = ("1", "true", "yes", "y", "t", "verified")
FALSE_VALUES = ("0", "false", "no", "n", "f", "unverified")
URL = r"^https?://\S+$"


@dataclass(frozen=True)
class ReviewColumns:
    item: str
    user: str | None = None
    rating: str | None = None
    text: str | None = None
    title: str | None = None
    time: str | None = None
    verified: str | None = None
    votes: str | None = None
    images: str | None = None
    label: str | None = None
    id: str | None = None


@dataclass(frozen=True)
class ReviewOptions:
    """``rating_scale``: the source's LOW,HIGH (mapped linearly to 1-5 stars);
    ``default_rating``: stars (1-5) for a file without ratings; ``spam_values`` and
    ``genuine_values``: the label column's values (case-insensitive); any other is
    quarantined."""

    rating_scale: tuple[float, float] = (1.0, 5.0)
    default_rating: int | None = None
    spam_values: tuple[str, ...] = SPAM_VALUES
    genuine_values: tuple[str, ...] = GENUINE_VALUES
    time_format: str | None = None
    time_zone: str = "UTC"


@dataclass
class ReviewImport:
    report: ImportReport
    rows: pl.DataFrame
    """One row per landed review: review_id, item_id, user_id, rating, title, body,
    verified_purchase, helpful_votes, image_urls (list), is_spam (null when unlabelled),
    occurred_at."""


def import_reviews(
    path: Path | str,
    columns: ReviewColumns,
    options: ReviewOptions | None = None,
    *,
    known_items: Collection[str] | None = None,
    read: ReadOptions | None = None,
    settings: Settings | None = None,
) -> ReviewImport:
    """Land a review file as review events; ``known_items`` (the shop's catalog) quarantines
    reviews of other items."""
    settings = settings or get_settings()
    options = options or ReviewOptions()
    path = Path(path)
    _check_options(columns, options)
    raw = _read(path, read or ReadOptions())
    _require(raw, {f"--{k.replace('_', '-')}-col": v for k, v in vars(columns).items()}, path)
    report = ImportReport("reviews", path, rows_read=raw.height)
    checks = _Checks(raw.height)
    frame = raw.select("_row", _id(columns.item).alias("item_id"), _key(raw).alias("_key"))
    _check_ids(checks, columns.item, frame["item_id"], "item id")
    if known_items is not None:
        known = pl.Series(list(known_items), dtype=pl.String)
        unknown = frame["item_id"].is_not_null() & frame["item_id"].is_in(known.implode()).not_()
        checks.add(None, "unknown item (not in the shop's catalog)", unknown)
        if not len(known):
            report.notes.append("the shop's catalog is empty: import or generate a catalog first")

    # without --id-col a review is its content, the label aside (a corrected label keeps the id)
    content = raw.drop(columns.label) if columns.label else raw
    source_id = raw.select(_id(columns.id)) if columns.id else content.select(_key(content))
    frame = frame.with_columns(source_id=source_id.to_series())
    if columns.id:
        checks.add(columns.id, "missing review id", frame["source_id"].is_null())
        dup = frame["source_id"].is_not_null() & frame["source_id"].is_first_distinct().not_()
        checks.add(None, "duplicate review id (the first row wins)", dup)
    review_id = _md5(
        "review", frame["item_id"].fill_null("") + "\x1f" + frame["source_id"].fill_null(""), ""
    )
    frame = frame.with_columns(review_id=review_id.str.strip_prefix("imp-"))

    if columns.user:
        user = raw.select(_id(columns.user)).to_series()
        _check_ids(checks, columns.user, user, "user id")
    else:
        user = ("anon-" + frame["review_id"].str.slice(0, 16)).alias("user_id")
        report.notes.append("no --user-col: each review has an anonymous author of its own")
    frame = frame.with_columns(user_id=user)
    dup_pair = frame.select(pl.struct("item_id", "user_id").is_first_distinct().not_()).to_series()
    checks.add(None, "second review of the item by the user (the first row wins)", dup_pair)

    frame = frame.with_columns(rating=_stars(raw, columns, options, checks, report))
    title, body = _text(raw, columns.title), _text(raw, columns.text)
    if columns.text or columns.title:
        checks.add(None, "empty review text", title.is_null() & body.is_null())
    long_titles = int((title.str.len_chars() > MAX_TITLE).sum())
    if long_titles:
        report.notes.append(f"{long_titles} titles cut to {MAX_TITLE} characters")
    frame = frame.with_columns(
        title=title.str.slice(0, MAX_TITLE).fill_null(""), body=body.fill_null("")
    )

    if columns.time:
        values = raw[columns.time]
        when = _checked_times(values, options.time_format, options.time_zone, checks, report)
    else:
        now = datetime.now(UTC).replace(tzinfo=None)
        when = pl.repeat(now, raw.height, dtype=pl.Datetime("us"), eager=True)
        when = when.dt.replace_time_zone("UTC")
        report.notes.append("no --time-col: reviews are dated now")
    frame = frame.with_columns(occurred_at=when)
    frame = frame.with_columns(
        verified_purchase=_flag(
            raw, columns.verified, TRUE_VALUES, FALSE_VALUES, checks, "unexpected verified value"
        ),  # fmt: skip
        helpful_votes=_votes(raw, columns.votes, checks),
        image_urls=_images(raw, columns.images, report),
        is_spam=_flag(
            raw,
            columns.label,
            options.spam_values,
            options.genuine_values,
            checks,
            "unexpected label value",
            default=None,
        ),  # fmt: skip
    )
    if columns.label:
        labelled = frame["is_spam"].drop_nulls()
        report.notes.append(
            f"labels: {int(labelled.sum())} spam, {len(labelled) - int(labelled.sum())} genuine "
            f"(spam values: {', '.join(options.spam_values)}; "
            f"genuine: {', '.join(options.genuine_values)})"
        )

    good, bad = checks.split(frame, report)
    _land_events(good, path, repr((columns, options)), report, settings)
    report.quarantine_file = _quarantine(raw, bad, path, "reviews", settings)
    rows = good.select(
        "review_id", "item_id", "user_id", "rating", "title", "body", "verified_purchase",
        "helpful_votes", "image_urls", "is_spam", "occurred_at",
    )  # fmt: skip
    return ReviewImport(report, rows)


def _check_options(columns: ReviewColumns, options: ReviewOptions) -> None:
    _check_scale(options.rating_scale)
    if options.default_rating is not None and not 1 <= options.default_rating <= 5:
        raise ImportFailed(f"--default-rating must be 1..5 stars (got {options.default_rating})")
    if columns.rating is None and options.default_rating is None:
        raise ImportFailed("give --rating-col, or --default-rating for a file without ratings")
    if columns.label:
        spam = {v.lower() for v in options.spam_values}
        both = spam & {v.lower() for v in options.genuine_values}
        if not spam or both:
            raise ImportFailed(
                "--spam-value must be given and differ from --genuine-value"
                + (f" (both: {', '.join(sorted(both))})" if both else "")
            )


def _text(raw: pl.DataFrame, column: str | None) -> pl.Series:
    if column is None:
        return pl.Series([None] * raw.height, dtype=pl.String)
    return raw[column].cast(pl.String).str.strip_chars().replace("", None)


def _stars(
    raw: pl.DataFrame,
    columns: ReviewColumns,
    options: ReviewOptions,
    checks: _Checks,
    report: ImportReport,
) -> pl.Series:
    """1-5 stars: the source's scale mapped linearly, rounded half up."""
    default = options.default_rating
    if columns.rating is None:
        report.notes.append(f"no --rating-col: every review has {default} stars")
        return pl.repeat(default, raw.height, dtype=pl.Int64, eager=True)
    low, high = options.rating_scale
    values = raw[columns.rating]
    score = _number(values)
    missing = values.cast(pl.String).str.strip_chars().replace("", None).is_null()
    if default is None:
        checks.add(columns.rating, "missing rating", missing)
    unparseable = ~missing & (score.is_null() | score.is_nan())
    checks.add(columns.rating, "unparseable rating", unparseable)
    checks.add(
        columns.rating, f"rating off the scale {low:g}..{high:g}", (score < low) | (score > high)
    )
    stars = (
        (1 + 4 * (score - low) / (high - low) + 0.5).floor().clip(1, 5).cast(pl.Int64, strict=False)
    )
    if (low, high) != (1.0, 5.0):
        report.notes.append(f"ratings on {low:g}..{high:g} mapped linearly to 1..5 stars")
    return stars.fill_null(default) if default is not None else stars


def _flag(
    raw: pl.DataFrame,
    column: str | None,
    yes: tuple[str, ...],
    no: tuple[str, ...],
    checks: _Checks,
    reason: str,
    default: bool | None = False,
) -> pl.Series:
    """True for a value in ``yes``, False in ``no``, ``default`` when empty; others fail."""
    if column is None:
        return pl.Series([default] * raw.height, dtype=pl.Boolean)
    text = raw[column].cast(pl.String).str.strip_chars().str.to_lowercase().replace("", None)
    text = text.str.replace(r"^(-?\d+)\.0+$", "$1")
    truth = {v.lower(): True for v in yes} | {v.lower(): False for v in no}
    value = text.replace_strict(truth, default=None, return_dtype=pl.Boolean)
    checks.add(column, reason, text.is_not_null() & value.is_null())
    return value if default is None else value.fill_null(default)


def _votes(raw: pl.DataFrame, column: str | None, checks: _Checks) -> pl.Series:
    """Helpful votes; "1,234" reads as 1234, empty as 0."""
    if column is None:
        return pl.repeat(0, raw.height, dtype=pl.Int64, eager=True)
    text = (
        raw[column]
        .cast(pl.String)
        .str.strip_chars()
        .str.replace_all(r"[,_ ]", "")
        .replace("", None)
    )
    votes = text.cast(pl.Float64, strict=False)
    checks.add(column, "unparseable helpful votes", text.is_not_null() & votes.is_null())
    checks.add(column, "negative helpful votes", votes < 0)
    return votes.fill_null(0).round(0).cast(pl.Int64, strict=False)


def _images(raw: pl.DataFrame, column: str | None, report: ImportReport) -> pl.Series:
    """Image URLs (http/https) from a list or a text of URLs separated by spaces or commas;
    other entries are dropped and counted."""
    if column is None:
        return pl.Series([[]] * raw.height, dtype=pl.List(pl.String))
    items = (
        raw[column].cast(pl.String).fill_null("").str.replace_all(r"[\[\]\"',;]", " ")
        .str.strip_chars().str.split(" ")
    )  # fmt: skip
    items = items.list.eval(pl.element().filter(pl.element() != ""))
    urls = items.list.eval(pl.element().filter(pl.element().str.contains(URL)))
    dropped = int((items.list.len() - urls.list.len()).sum())
    if dropped:
        report.flagged["image entries that are not http(s) URLs (dropped)"] = dropped
    return urls


def _land_events(
    good: pl.DataFrame, path: Path, mapping: str, report: ImportReport, settings: Settings
) -> None:
    base = good.with_columns(
        session_id=pl.lit(None, pl.String), spam_score=pl.lit(None, pl.Float64),
        reason=pl.lit(None, pl.String),
    )  # fmt: skip
    spam = base["is_spam"].fill_null(False)
    decided = base["occurred_at"] + timedelta(microseconds=1)
    for event_type, rows in (
        ("review.submitted", base),
        ("review.approved", base.filter(~spam).with_columns(occurred_at=decided.filter(~spam),
                                                           reason=pl.lit("import"))),
        ("review.rejected", base.filter(spam).with_columns(occurred_at=decided.filter(spam),
                                                          reason=pl.lit("spam"))),
    ):  # fmt: skip
        if rows.height == 0:
            continue
        table = rows.with_columns(event_id=_md5(event_type, rows["review_id"], mapping))
        report.rows_landed[event_type] = report.events[event_type] = table.height
        report.files += _land(event_type, table, path, "reviews", settings)
