"""``shopflow import interactions|catalog FILE``: bring your own data into the landing zone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from shopflow.importers import ImportReport

NAME = "import"
app = typer.Typer(help="Import your own interaction logs and catalogs (CSV or Parquet).")

FILE = typer.Argument(..., help="A .csv, .tsv or .parquet file.")


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
        help="Column with a strength: >=8 order, >=4 cart, >=3 wishlist, >=1 view.",
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
            currency=currency,
            time_format=time_format,
            time_zone=time_zone,
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
) -> None:
    """Land a product catalog as product.upserted events."""
    from shopflow.importers import CatalogColumns, import_catalog

    columns = CatalogColumns(
        id=id_col, title=title_col, description=description_col, category=category_col,
        brand=brand_col, price=price_col, stock=stock_col,
    )  # fmt: skip
    _run(
        lambda: import_catalog(
            file, columns, currency=currency, price_minor=price_minor, default_stock=default_stock
        )
    )


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
    console.print(table)
    for note in report.notes:
        console.print(f"note: {note}")
    if report.quarantine_file:
        console.print(f"quarantined rows: {report.quarantine_file}")
