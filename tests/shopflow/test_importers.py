"""Bring-your-own-data importers: mapping, quarantine, clear failures, idempotent ids."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli.main import app
from shopflow import events
from shopflow.config import Settings
from shopflow.importers import (
    CatalogColumns,
    ImportFailed,
    InteractionColumns,
    RatingColumn,
    ReadOptions,
    import_catalog,
    import_interactions,
)

RETAIL = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
536366,22633,HAND WARMER UNION JACK,6,2010-12-01 08:28:00,1.85,17850.0,United Kingdom
536367,84879,ASSORTED BIRD ORNAMENT,32,2010-12-01 08:34:00,1.69,13047.0,United Kingdom
536368,22960,JAM MAKING SET,6,2010-12-01 08:34:00,4.25,,United Kingdom
C536379,D,Discount,-1,2010-12-01 09:41:00,27.50,14527.0,United Kingdom
536370,22728,ALARM CLOCK BAKELIKE PINK,24,yesterday-ish,3.75,12583.0,France
536371,22727,ALARM CLOCK BAKELIKE RED,24,2010-12-01 09:00:00,abc,12583.0,France
"""
RETAIL_COLUMNS = InteractionColumns(
    user="CustomerID", item="StockCode", time="InvoiceDate", quantity="Quantity",
    basket="InvoiceNo", price="UnitPrice",
)  # fmt: skip


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _landed(settings: Settings, event_type: str) -> list[dict]:
    directory = settings.landing_dir / events.table_name(event_type)
    table = pq.ParquetDataset(directory).read().select(events.arrow_schema(event_type).names)
    return table.sort_by("event_id").to_pylist()


def _assert_contract(settings: Settings, event_type: str) -> None:
    glob = settings.landing_dir / events.table_name(event_type) / "*" / "*.parquet"
    rows = f"read_parquet('{glob}', hive_partitioning = false)"
    con = duckdb.connect()
    for predicate, reason in events.contract_checks(event_type):
        assert con.sql(f"SELECT count(*) FROM {rows} WHERE {predicate}").fetchall()[0][0] == 0, (
            reason
        )
    envelope = set(events.Envelope.ENVELOPE_FIELDS)
    for row in _landed(settings, event_type):
        payload = {k: v for k, v in row.items() if k not in envelope}
        events.parse_event({**{k: row[k] for k in envelope}, "payload": payload})


def test_retail_baskets_become_orders_and_bad_rows_are_quarantined(shopflow_home, tmp_path):
    path = _write(tmp_path, "retail.csv", RETAIL)
    report = import_interactions(path, RETAIL_COLUMNS, event_type="purchase", currency="GBP")
    assert report.rows_read == 8
    assert report.rows_landed == {"order_placed": 4} and report.events == {"order_placed": 3}
    assert report.quarantined == {
        "missing user id": 1,
        "cancellation/negative quantity": 1,
        "unparseable time": 1,
        "unparseable price": 1,
    }
    orders = {row["order_id"]: row for row in _landed(shopflow_home, "order_placed")}
    first = orders["536365"]
    assert first["user_id"] == "17850" and first["currency"] == "GBP"
    assert first["occurred_at"] == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)
    assert [
        (line["item_id"], line["quantity"], line["unit_price_minor"]) for line in first["lines"]
    ] == [
        ("85123A", 6, 255),
        ("71053", 6, 339),
    ]
    assert first["total_minor"] == 6 * 255 + 6 * 339
    assert orders["536367"]["total_minor"] == 32 * 169
    _assert_contract(shopflow_home, "order_placed")

    quarantine = pl.read_parquet(report.quarantine_file)
    assert report.quarantine_file.parent == shopflow_home.import_quarantine_dir
    assert quarantine["source_row"].to_list() == [4, 5, 6, 7]
    assert quarantine.filter(pl.col("InvoiceNo") == "C536379")["reason"].to_list() == [
        "cancellation/negative quantity"
    ]
    assert set(quarantine.columns) >= {"source_row", "reason", "InvoiceNo", "CustomerID"}


def test_importing_the_same_file_twice_gives_the_same_event_ids(shopflow_home, tmp_path):
    path = _write(tmp_path, "retail.csv", RETAIL)
    import_interactions(path, RETAIL_COLUMNS, event_type="purchase")
    once = {row["event_id"] for row in _landed(shopflow_home, "order_placed")}
    import_interactions(path, RETAIL_COLUMNS, event_type="purchase")
    twice = _landed(shopflow_home, "order_placed")
    assert len(twice) == 2 * len(once) and {row["event_id"] for row in twice} == once
    # An extra row elsewhere in the file does not change the ids of the other orders.
    grown = _write(
        tmp_path, "grown.csv", RETAIL + "536399,22111,MUG,2,2010-12-02 10:00:00,1.00,1.0,UK\n"
    )
    import_interactions(grown, RETAIL_COLUMNS, event_type="purchase")
    assert len({row["event_id"] for row in _landed(shopflow_home, "order_placed")}) == len(once) + 1


def test_event_column_maps_names_and_quarantines_unknown(shopflow_home, tmp_path):
    path = _write(
        tmp_path,
        "log.csv",
        "visitorid,itemid,event,timestamp,qty\n"
        "1,10,view,1433221332117,\n"
        "1,10,addtocart,1433221332500,2\n"
        "1,10,transaction,1433221340000,1\n"
        "2,11,Add-To-Cart,1433221350000,1\n"
        "2,11,wishlist,1433221351000,1\n"
        "2,12,teleport,1433221352000,1\n",
    )
    columns = InteractionColumns(user="visitorid", item="itemid", time="timestamp", event="event")
    report = import_interactions(path, columns)
    assert report.rows_landed == {
        "product_view": 1, "add_to_cart": 2, "order_placed": 1, "wishlist_add": 1,
    }  # fmt: skip
    assert report.quarantined == {"unknown event type": 1}
    assert "time: epoch ms" in report.notes
    (view,) = _landed(shopflow_home, "product_view")
    assert view["occurred_at"] == datetime(2015, 6, 2, 5, 2, 12, 117000, tzinfo=UTC)
    (order,) = _landed(shopflow_home, "order_placed")
    assert order["lines"] == [{"item_id": "10", "quantity": 1, "unit_price_minor": 0}]
    for event_type in report.rows_landed:
        _assert_contract(shopflow_home, event_type)


def test_weight_column_picks_the_event_type(shopflow_home, tmp_path):
    path = _write(
        tmp_path,
        "ratings.csv",
        "u,i,w,t\na,x,1,2024-01-01\na,y,3.5,2024-01-01\nb,x,5,2024-01-02\nb,z,9,2024-01-02\nc,x,0.5,2024-01-03\n",
    )
    report = import_interactions(path, InteractionColumns(user="u", item="i", time="t", weight="w"))
    assert report.rows_landed == {
        "product_view": 1, "wishlist_add": 1, "add_to_cart": 1, "order_placed": 1,
    }  # fmt: skip
    assert report.quarantined == {"weight below 1": 1}
    assert not (shopflow_home.landing_dir / "rating").exists()  # --weight-col: implicit only


def test_parquet_input_with_typed_columns_and_time_zone(shopflow_home, tmp_path):
    path = tmp_path / "log.parquet"
    pl.DataFrame(
        {
            "user": [17850.0, 13047.0],
            "item": [1, 2],
            "when": ["2024-07-01 12:00:00", "2024-07-01 13:30:00"],
        }
    ).write_parquet(path)
    columns = InteractionColumns(user="user", item="item", time="when")
    import_interactions(path, columns, event_type="view", time_zone="Europe/Berlin")
    views = sorted(_landed(shopflow_home, "product_view"), key=lambda r: r["user_id"])
    assert [(v["user_id"], v["item_id"]) for v in views] == [("13047", "2"), ("17850", "1")]
    assert views[1]["occurred_at"] == datetime(2024, 7, 1, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            InteractionColumns(user="Customer", item="StockCode", time="InvoiceDate"),
            "column 'Customer' (--user-col) is not in retail.csv; available columns: InvoiceNo",
        ),
        (
            InteractionColumns(user="CustomerID", item="StockCode", time="Description"),
            "unparseable time in all 8 rows of column 'Description'",
        ),
        (
            InteractionColumns(
                user="Country", item="Description", time="InvoiceDate", price="Description"
            ),
            "unparseable price in all 8 rows of column 'Description'",
        ),
    ],
)
def test_unusable_input_fails_clearly_and_lands_nothing(shopflow_home, tmp_path, columns, message):
    path = _write(tmp_path, "retail.csv", RETAIL)
    with pytest.raises(ImportFailed) as failure:
        import_interactions(path, columns, event_type="view")
    assert message in str(failure.value)
    assert not any(shopflow_home.landing_dir.iterdir())
    assert not shopflow_home.import_quarantine_dir.exists()


def test_no_usable_row_fails(shopflow_home, tmp_path):
    path = _write(tmp_path, "x.csv", "u,i,t\n,a,2024-01-01\nb,,2024-01-01\n")
    with pytest.raises(ImportFailed, match="none of the 2 rows can be imported"):
        import_interactions(
            path, InteractionColumns(user="u", item="i", time="t"), event_type="view"
        )
    assert not any(shopflow_home.landing_dir.iterdir())


def test_catalog_maps_columns_converts_prices_and_reports_bad_rows(shopflow_home, tmp_path):
    path = _write(
        tmp_path,
        "catalog.csv",
        "sku,name,desc,cat,brand,price,stock\n"
        "A1,Red Mug,A mug,Home > Kitchen > Mugs,Acme,12.99,5\n"
        "A2,,,Books,,$7.50,\n"
        "A3,Blue Mug,,Home > Kitchen > Mugs,Acme,-1,3\n"
        ",Nameless,,Home,,1.00,1\n"
        "A4,Lamp,,,Lumo,20,-2\n"
        "A1,Red Mug v2,A better mug,Home > Kitchen > Mugs,Acme,13.49,7\n",
    )
    columns = CatalogColumns(
        id="sku", title="name", description="desc", category="cat", brand="brand",
        price="price", stock="stock",
    )  # fmt: skip
    report = import_catalog(path, columns, default_stock=9)
    assert report.rows_landed == {"product.upserted": 2}
    assert report.quarantined == {
        "duplicate item id (a later row wins)": 1,
        "negative price": 1,
        "missing item id": 1,
        "negative stock": 1,
    }
    products = {row["item_id"]: row for row in _landed(shopflow_home, "product.upserted")}
    assert products["A1"]["title"] == "Red Mug v2" and products["A1"]["price_minor"] == 1349
    assert products["A1"]["category"] == "Mugs"
    assert products["A1"]["category_path"] == "Home > Kitchen > Mugs"
    assert products["A2"]["title"] == "Books A2" and products["A2"]["price_minor"] == 750
    assert products["A2"]["stock"] == 9 and products["A2"]["currency"] == "USD"
    assert any("without a title" in note for note in report.notes)
    _assert_contract(shopflow_home, "product.upserted")


def test_catalog_without_titles_or_prices_and_minor_units(shopflow_home, tmp_path):
    path = _write(tmp_path, "p.csv", "id,category,cents\np1,perfumaria,1999\np2,,500\n")
    report = import_catalog(path, CatalogColumns(id="id", category="category"))
    products = {row["item_id"]: row for row in _landed(shopflow_home, "product.upserted")}
    assert products["p1"]["title"] == "perfumaria p1" and products["p1"]["price_minor"] == 0
    assert products["p2"]["category"] == "uncategorized"
    assert "no --title-col: titles default to '<category> <item id>'" in report.notes
    columns = CatalogColumns(id="id", price="cents")
    import_catalog(path, columns, price_minor=True, currency="jpy")
    prices = {r["event_id"]: r for r in _landed(shopflow_home, "product.upserted")}
    assert {(r["item_id"], r["price_minor"], r["currency"]) for r in prices.values()} >= {
        ("p1", 1999, "JPY"),
        ("p2", 500, "JPY"),
    }


def test_cli_prints_a_summary_and_exits_2_on_bad_input(shopflow_home, tmp_path):
    path = _write(tmp_path, "retail.csv", RETAIL)
    base = ["import", "interactions", str(path), "--user-col", "CustomerID", "--item-col",
            "StockCode", "--time-col", "InvoiceDate", "--basket-col", "InvoiceNo",
            "--quantity-col", "Quantity", "--price-col", "UnitPrice"]  # fmt: skip
    ok = CliRunner().invoke(app, [*base, "--event-type", "purchase", "--currency", "GBP"])
    assert ok.exit_code == 0, ok.output
    text = " ".join(ok.output.split())
    assert "rows read │ 8" in text and "landed as order_placed │ 4 │ 3" in text
    assert "quarantined: cancellation/negative quantity │ 1" in text

    for extra, message in (
        (["--event-type", "purchase", "--currency", "XYZ"], "unsupported --currency 'XYZ'"),
        (["--event-type", "teleport"], "unknown --event-type 'teleport'"),
        ([], "give exactly one of --event-col, --weight-col, --event-type or --rating-col"),
    ):
        bad = CliRunner().invoke(app, [*base, *extra])
        assert bad.exit_code == 2 and message in " ".join(bad.output.split())
    missing = CliRunner().invoke(
        app, ["import", "catalog", str(tmp_path / "nope.csv"), "--id-col", "id"]
    )
    assert missing.exit_code == 2 and "no such file" in missing.output


RATINGS = (
    "user,movie,stars,when\n"
    "a,m1,4.5,2024-01-01 10:00:00\n"
    "a,m2,0.5,2024-01-01 11:00:00\n"  # half stars are valid, down to the scale's floor
    "a,m3,3,2024-01-02 09:00:00\n"
    "b,m1,5.5,2024-01-02 09:00:00\n"  # off the 0.5..5 scale
    "b,m2,0,2024-01-02 09:00:00\n"  # off the scale too
    "b,m3,great,2024-01-02 09:00:00\n"
    "b,m4,4,2999-01-01 00:00:00\n"  # in the future
    "b,m9,2.5,2024-01-03 09:00:00\n"  # an item the catalog lacks: lands, flagged
    "c,m1,5,2024-01-03 09:00:00\n"  # c's only row: lands, flagged
)
RATING_COLUMNS = InteractionColumns(user="user", item="movie", time="when")


def test_ratings_land_as_rating_events_and_bad_values_are_quarantined(shopflow_home, tmp_path):
    catalog = _write(tmp_path, "movies.csv", "id,title\nm1,One\nm2,Two\nm3,Three\nm4,Four\n")
    import_catalog(catalog, CatalogColumns(id="id", title="title"))
    path = _write(tmp_path, "ratings.csv", RATINGS)
    report = import_interactions(path, RATING_COLUMNS, rating=RatingColumn("stars"))
    assert report.rows_landed == {"rating": 5} and report.events == {"rating": 5}
    assert report.quarantined == {
        "rating off the scale 0.5..5": 2,
        "unparseable rating": 1,
        "time in the future": 1,
    }
    assert report.flagged == {
        "rows naming an item not in the catalog": 1,
        "users with a single row": 2,  # c, and b once its bad rows are quarantined
    }
    assert any("m9" in note for note in report.notes)
    landed = {(r["user_id"], r["item_id"]): r for r in _landed(shopflow_home, "rating")}
    assert {k: v["rating"] for k, v in landed.items()} == {
        ("a", "m1"): 4.5, ("a", "m2"): 0.5, ("a", "m3"): 3.0, ("b", "m9"): 2.5, ("c", "m1"): 5.0,
    }  # fmt: skip
    first = landed[("a", "m1")]
    assert (first["scale_min"], first["scale_max"], first["positive_threshold"]) == (0.5, 5, 4)
    assert first["occurred_at"] == datetime(2024, 1, 1, 10, tzinfo=UTC)
    _assert_contract(shopflow_home, "rating")

    quarantine = pl.read_parquet(report.quarantine_file)
    assert dict(zip(quarantine["stars"], quarantine["reason"], strict=True)) == {
        "5.5": "rating off the scale 0.5..5",
        "0": "rating off the scale 0.5..5",
        "great": "unparseable rating",
        "4": "time in the future",
    }


def test_rating_scale_and_threshold_are_kept_per_import_and_change_the_ids(shopflow_home, tmp_path):
    path = _write(tmp_path, "r.csv", "u,i,r,t\na,x,7,2024-01-01\nb,x,10,2024-01-01\n")
    ten = RatingColumn("r", scale=(1, 10), positive_threshold=7)
    report = import_interactions(path, InteractionColumns(user="u", item="i", time="t"), rating=ten)
    assert report.rows_landed == {"rating": 2} and "no catalog landed yet" in " ".join(report.notes)
    stricter = RatingColumn("r", scale=(1, 10), positive_threshold=8)
    import_interactions(path, InteractionColumns(user="u", item="i", time="t"), rating=stricter)
    rows = _landed(shopflow_home, "rating")
    assert sorted((r["user_id"], r["positive_threshold"]) for r in rows) == [
        ("a", 7), ("a", 8), ("b", 7), ("b", 8),
    ]  # fmt: skip
    assert len({r["event_id"] for r in rows}) == 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rating": RatingColumn("r", scale=(5, 1))}, "--rating-scale must be LOW,HIGH"),
        ({"rating": RatingColumn("r", positive_threshold=6)}, "--positive-threshold 6 is off"),
        ({"rating": RatingColumn("nope")}, "column 'nope' (--rating-col) is not in r.csv"),
        ({"rating": RatingColumn("r"), "event_type": "view"}, "give exactly one of"),
    ],
)
def test_bad_rating_options_fail_clearly(shopflow_home, tmp_path, kwargs, message):
    path = _write(tmp_path, "r.csv", "u,i,r,t\na,x,4,2024-01-01\n")
    with pytest.raises(ImportFailed, match=message.replace("(", r"\(").replace(")", r"\)")):
        import_interactions(path, InteractionColumns(user="u", item="i", time="t"), **kwargs)
    assert not any(shopflow_home.landing_dir.iterdir())


def test_headerless_tab_and_pipe_files_with_another_encoding(shopflow_home, tmp_path):
    data = tmp_path / "u.data"
    data.write_text("1\t10\t4\t874965758\n2\t10\t2.5\t874965800\n")
    columns = InteractionColumns(user="user", item="item", time="ts")
    read = ReadOptions(sep="\t", names=("user", "item", "rating", "ts"))
    report = import_interactions(data, columns, rating=RatingColumn("rating", (1, 5)), read=read)
    assert report.rows_landed == {"rating": 2} and "time: epoch s" in report.notes
    item = tmp_path / "u.item"
    item.write_bytes("10|Caf\u00e9 (1995)|x\n11|Na\u00efve|y\n".encode("latin-1"))
    read = ReadOptions(sep="|", header=False, encoding="latin-1")
    import_catalog(item, CatalogColumns(id="column_1", title="column_2"), read=read)
    titles = {r["item_id"]: r["title"] for r in _landed(shopflow_home, "product.upserted")}
    assert titles == {"10": "Caf\u00e9 (1995)", "11": "Na\u00efve"}
    with pytest.raises(ImportFailed, match="--names gives 2 names but u.data has 4 columns"):
        import_interactions(
            data, columns, event_type="view", read=ReadOptions("\t", names=("a", "b"))
        )
    with pytest.raises(ImportFailed, match="give --sep"):
        import_interactions(data, columns, event_type="view")


def test_cli_imports_ratings_reports_and_fails_only_when_nothing_is_usable(shopflow_home, tmp_path):
    path = _write(tmp_path, "ratings.tsv", RATINGS.replace(",", "\t"))
    base = ["import", "interactions", str(path), "--user-col", "user", "--item-col", "movie",
            "--time-col", "when", "--rating-col", "stars"]  # fmt: skip
    ok = CliRunner().invoke(app, [*base, "--rating-scale", "0.5,5", "--positive-threshold", "3.5"])
    assert ok.exit_code == 0, ok.output
    text = " ".join(ok.output.split())
    assert "landed as rating │ 5 │ 5" in text and "quarantined: unparseable rating │ 1" in text
    assert "flagged (landed): users with a single row │ 2" in text
    assert {r["positive_threshold"] for r in _landed(shopflow_home, "rating")} == {3.5}
    bad = CliRunner().invoke(app, [*base, "--rating-scale", "6,10", "--positive-threshold", "8"])
    assert bad.exit_code == 2
    assert "none of the 9 rows can be imported" in " ".join(bad.output.split())
    odd = CliRunner().invoke(app, [*base, "--rating-scale", "five"])
    assert odd.exit_code == 2 and "--rating-scale must be LOW,HIGH" in odd.output
