"""``shopflow import interactions|catalog|reviews FILE``: bring your own data into the landing
zone (reviews also into the shop's database, so the API shows them at once)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from shopflow.importers import ImportReport, RatingColumn, ReadOptions

NAME = "import"
app = typer.Typer(help="Import your own interaction logs, catalogs and reviews.")

FILE = typer.Argument(
    ..., help="A .csv, .tsv, .jsonl or .parquet file (another text file with --sep)."
)
SEP = typer.Option(
    None, "--sep", help="Field separator of a text file: one character, or 'tab'. Default: "
    "tab for .tsv, else comma.",
)  # fmt: skip
NO_HEADER = typer.Option(
    False, "--no-header", help="The first line is data; columns are column_1, column_2, ..."
)
NAMES = typer.Option(
    None, "--names", help="Comma-separated column names of a file without a header row."
)
ENCODING = typer.Option("utf8", "--encoding", help="Text encoding, e.g. latin-1.")


@app.command("interactions")
def interactions(
    file: Path = FILE,
    user_col: str = typer.Option(..., "--user-col", help="Column with the user id."),
    item_col: str = typer.Option(..., "--item-col", help="Column with the item id."),
    time_col: str = typer.Option(..., "--time-col", help="Column with the event time."),
    event_col: str = typer.Option(
        None, "--event-col", help="Column with event types (view, cart, purchase, wishlist...)."
    ),
    weight_col: str = typer.Option(
        None,
        "--weight-col",
        help="Column with an implicit strength: >=8 order, >=4 cart, >=3 wishlist, >=1 view.",
    ),
    rating_col: str = typer.Option(
        None, "--rating-col", help="Column with explicit ratings: each row lands as a rating."
    ),
    positive_threshold: float = typer.Option(
        4.0, "--positive-threshold", help="Ratings >= this are positive, below it dislikes."
    ),
    rating_scale: str = typer.Option(
        "0.5,5", "--rating-scale", help="LOW,HIGH: the valid ratings; others are quarantined."
    ),
    event_type: str = typer.Option(
        None, "--event-type", help="One event type for every row (view, cart, purchase, ...)."
    ),
    quantity_col: str = typer.Option(None, "--quantity-col", help="Column with quantities."),
    basket_col: str = typer.Option(
        None, "--basket-col", help="Basket/invoice column: a user's rows in it form one order."
    ),
    price_col: str = typer.Option(
        None, "--price-col", help="Unit price in major units (e.g. 2.55); default 0."
    ),
    currency: str = typer.Option("USD", "--currency", help="ISO currency of the prices."),
    time_format: str = typer.Option(
        None, "--time-format", help="strftime format of the times; detected if omitted."
    ),
    time_zone: str = typer.Option(
        "UTC", "--time-zone", help="Time zone of times without an offset."
    ),
    sep: str = SEP,
    no_header: bool = NO_HEADER,
    names: str = NAMES,
    encoding: str = ENCODING,
) -> None:
    """Map an interaction log onto the event contract and land it (idempotent ids)."""
    from shopflow.importers import InteractionColumns, import_interactions

    columns = InteractionColumns(
        user=user_col, item=item_col, time=time_col, event=event_col, weight=weight_col,
        quantity=quantity_col, basket=basket_col, price=price_col,
    )  # fmt: skip
    _run(
        lambda: import_interactions(
            file,
            columns,
            event_type=event_type,
            rating=_rating(rating_col, rating_scale, positive_threshold),
            currency=currency,
            time_format=time_format,
            time_zone=time_zone,
            read=_read_options(sep, no_header, names, encoding),
        )  # fmt: skip
    )


@app.command("catalog")
def catalog(
    file: Path = FILE,
    id_col: str = typer.Option(..., "--id-col", help="Column with the item id."),
    title_col: str = typer.Option(
        None, "--title-col", help="Title column; default '<category> <item id>'."
    ),
    description_col: str = typer.Option(None, "--description-col"),
    category_col: str = typer.Option(
        None, "--category-col", help="Leaf category, or a path 'A > B > C'."
    ),
    brand_col: str = typer.Option(None, "--brand-col"),
    price_col: str = typer.Option(
        None, "--price-col", help="Price in major units (12.99); default 0."
    ),
    price_minor: bool = typer.Option(
        False, "--price-minor", help="The price column is already in minor units (cents)."
    ),
    stock_col: str = typer.Option(
        None, "--stock-col", help="Stock column; default --default-stock."
    ),
    default_stock: int = typer.Option(100, "--default-stock"),
    currency: str = typer.Option("USD", "--currency", help="ISO currency of the prices."),
    sep: str = SEP,
    no_header: bool = NO_HEADER,
    names: str = NAMES,
    encoding: str = ENCODING,
) -> None:
    """Land a product catalog as product.upserted events."""
    from shopflow.importers import CatalogColumns, import_catalog

    columns = CatalogColumns(
        id=id_col, title=title_col, description=description_col, category=category_col,
        brand=brand_col, price=price_col, stock=stock_col,
    )  # fmt: skip
    _run(
        lambda: import_catalog(
            file,
            columns,
            currency=currency,
            price_minor=price_minor,
            default_stock=default_stock,
            read=_read_options(sep, no_header, names, encoding),
        )  # fmt: skip
    )


@app.command("reviews")
def reviews(
    file: Path = FILE,
    item_col: str = typer.Option(..., "--item-col", help="Column with the product id."),
    user_col: str = typer.Option(
        None, "--user-col", help="Author column; without it each review has its own author."
    ),
    rating_col: str = typer.Option(None, "--rating-col", help="Rating column (any numeric scale)."),
    rating_scale: str = typer.Option(
        "1,5", "--rating-scale", help="LOW,HIGH of the rating column, mapped linearly to 1-5 stars."
    ),
    default_rating: int = typer.Option(
        None, "--default-rating", help="Stars (1-5) for a file without a rating column."
    ),
    text_col: str = typer.Option(None, "--text-col", help="Review text column."),
    title_col: str = typer.Option(None, "--title-col", help="Review title column."),
    time_col: str = typer.Option(
        None, "--time-col", help="Review time (ISO, common formats or epoch); default now."
    ),
    verified_col: str = typer.Option(
        None, "--verified-col", help="Verified-purchase flag (true/false, 1/0, yes/no)."
    ),
    votes_col: str = typer.Option(
        None, "--votes-col", help='Helpful votes ("1,234" reads as 1234).'
    ),
    images_col: str = typer.Option(
        None, "--images-col", help="Image URLs (a list, or text separated by spaces/commas)."
    ),
    id_col: str = typer.Option(None, "--id-col", help="Source review id (duplicates quarantined)."),
    label_col: str = typer.Option(
        None, "--label-col", help="Truth label column: spam or genuine (trains the classifier)."
    ),
    spam_value: list[str] = typer.Option(
        None,
        "--spam-value",
        help="A label value meaning spam (repeatable; default 1/true/spam...).",
    ),
    genuine_value: list[str] = typer.Option(
        None,
        "--genuine-value",
        help="A label value meaning genuine (repeatable; default "
        "0/false/genuine...). Other values are quarantined.",
    ),  # fmt: skip
    time_format: str = typer.Option(None, "--time-format", help="strftime format of the times."),
    time_zone: str = typer.Option("UTC", "--time-zone", help="Time zone of naive times."),
    sep: str = SEP,
    no_header: bool = NO_HEADER,
    names: str = NAMES,
    encoding: str = ENCODING,
) -> None:
    """Import a shop's existing reviews: review events in the landing zone, and the reviews
    with their aggregates in the shop's database (idempotent on re-import)."""
    from commerce.catalog import sync_catalog_from_landing
    from commerce.db import migrate
    from commerce.reviews import imports as review_store
    from shopflow import review_import as ri

    columns = ri.ReviewColumns(
        item=item_col, user=user_col, rating=rating_col, text=text_col, title=title_col,
        time=time_col, verified=verified_col, votes=votes_col, images=images_col,
        label=label_col, id=id_col,
    )  # fmt: skip
    options = ri.ReviewOptions(
        rating_scale=_scale(rating_scale),
        default_rating=default_rating,
        spam_values=tuple(spam_value) if spam_value else ri.SPAM_VALUES,
        genuine_values=tuple(genuine_value) if genuine_value else ri.GENUINE_VALUES,
        time_format=time_format,
        time_zone=time_zone,
    )
    migrate.upgrade()
    sync_catalog_from_landing()  # reviews of items the shop knows from its landing catalog
    landed: list[ri.ReviewImport] = []

    def job() -> ImportReport:
        landed.append(
            ri.import_reviews(
                file,
                columns,
                options,
                known_items=review_store.catalog_ids(),
                read=_read_options(sep, no_header, names, encoding),
            )  # fmt: skip
        )
        return landed[0].report

    _run(job)
    stored = review_store.store(landed[0].rows.to_dicts())
    message = f"{stored.written:,} reviews in the shop over {len(stored.products):,} products"
    if stored.skipped_existing:
        message += f"; {stored.skipped_existing:,} skipped (the author already reviewed the item)"
    typer.echo(message)


def _scale(scale: str) -> tuple[float, float]:
    from cli.main import fail

    try:
        low, high = (float(part) for part in scale.split(","))
    except ValueError as exc:
        raise fail(f"--rating-scale must be LOW,HIGH, e.g. 1,10 (got {scale!r})") from exc
    return low, high


def _read_options(
    sep: str | None, no_header: bool, names: str | None, encoding: str
) -> ReadOptions:
    from shopflow.importers import ReadOptions

    sep = {"tab": "\t", "\\t": "\t"}.get(sep, sep) if sep else None
    return ReadOptions(
        sep=sep, header=not no_header,
        names=tuple(n.strip() for n in names.split(",")) if names else None,
        encoding="utf8-lossy" if encoding.lower().replace("-", "") == "utf8" else encoding,
    )  # fmt: skip


def _rating(column: str | None, scale: str, threshold: float) -> RatingColumn | None:
    from cli.main import fail
    from shopflow.importers import RatingColumn

    if not column:
        return None
    try:
        low, high = (float(part) for part in scale.split(","))
    except ValueError as exc:
        raise fail(f"--rating-scale must be LOW,HIGH, e.g. 0.5,5 (got {scale!r})") from exc
    return RatingColumn(column, (low, high), threshold)


def _run(job: Callable[[], ImportReport]) -> None:
    from rich.console import Console
    from rich.table import Table

    from cli.main import fail
    from shopflow.importers import ImportFailed

    try:
        report = job()
    except ImportFailed as exc:
        raise fail(f"{exc} (nothing was imported)") from exc
    console = Console()
    table = Table("", "rows", "events", title=f"import {report.kind}: {report.source.name}")
    table.add_row("rows read", f"{report.rows_read:,}", "")
    for event_type, rows in report.rows_landed.items():
        table.add_row(f"landed as {event_type}", f"{rows:,}", f"{report.events[event_type]:,}")
    for reason, rows in report.quarantined.items():
        table.add_row(f"[yellow]quarantined: {reason}", f"[yellow]{rows:,}", "")
    for what, count in report.flagged.items():
        table.add_row(f"[cyan]flagged (landed): {what}", f"[cyan]{count:,}", "")
    console.print(table)
    for note in report.notes:
        console.print(f"note: {note}")
    if report.quarantine_file:
        console.print(f"quarantined rows: {report.quarantine_file}")
