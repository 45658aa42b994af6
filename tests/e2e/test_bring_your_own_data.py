"""A shop built only from its own files: import interactions and a catalog into an empty
home, materialize, then serve recommendations for those users and items."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli.main import app
from shopflow.config import Settings
from tests.serving.test_recommendations import auth

pytestmark = pytest.mark.e2e


def _write_shop(tmp_path: Path) -> tuple[Path, Path, set[str]]:
    """Two taste groups of customers, each buying mostly from its own half of the catalog."""
    rng = random.Random(11)
    items = [f"SKU-{n:03d}" for n in range(60)]
    catalog = tmp_path / "catalog.csv"
    lines = ["sku,name,blurb,dept,maker,price"]
    for n, sku in enumerate(items):
        dept = "Garden" if n < 30 else "Kitchen"
        lines.append(f"{sku},{dept} thing {n},A fine {dept.lower()} item,{dept},Acme,{5 + n}.99")
    catalog.write_text("\n".join(lines) + "\n")

    start = datetime.now(UTC) - timedelta(days=20)
    rows = ["customer,sku,ts,qty,invoice"]
    for c in range(80):
        half = items[:30] if c % 2 else items[30:]
        for k in range(12):
            sku = rng.choice(half) if rng.random() < 0.9 else rng.choice(items)
            ts = start + timedelta(hours=rng.randrange(20 * 24))
            rows.append(f"C{c:03d},{sku},{ts:%Y-%m-%d %H:%M:%S},{rng.randint(1, 3)},INV{c}-{k}")
    rows.append("C999,SKU-001,not a time,1,INVX")  # quarantined, reported
    interactions = tmp_path / "orders.csv"
    interactions.write_text("\n".join(rows) + "\n")
    return interactions, catalog, set(items)


def test_import_materialize_serve_own_data(shopflow_home: Settings, tmp_path: Path) -> None:
    interactions, catalog, skus = _write_shop(tmp_path)
    cli = CliRunner()
    imported = cli.invoke(
        app,
        ["import", "catalog", str(catalog), "--id-col", "sku", "--title-col", "name",
         "--description-col", "blurb", "--category-col", "dept", "--brand-col", "maker",
         "--price-col", "price", "--currency", "EUR"],
    )  # fmt: skip
    assert imported.exit_code == 0, imported.output
    imported = cli.invoke(
        app,
        ["import", "interactions", str(interactions), "--user-col", "customer",
         "--item-col", "sku", "--time-col", "ts", "--quantity-col", "qty",
         "--basket-col", "invoice", "--event-type", "purchase", "--currency", "EUR"],
    )  # fmt: skip
    assert imported.exit_code == 0, imported.output
    assert "quarantine" in imported.output.lower()

    from cli.commands.materialize import failed_steps, materialize_all

    result = materialize_all(settings=shopflow_home)
    assert result.success, failed_steps(result)

    from commerce.db import migrate
    from serving.app import create_app

    migrate.upgrade()
    with TestClient(create_app(), headers=auth("C001")) as client:
        body = client.get("/recommendations/C001", params={"limit": 10}).json()
        got = [item["item_id"] for item in body["items"]]
        assert got and set(got) <= skus
        assert body["fallback"] is False and body["model_version"]
        # C001 is in the odd (Garden, SKU-000..029) group: most suggestions come from there.
        assert sum(sku < "SKU-030" for sku in got) > len(got) / 2
        similar = client.get("/items/SKU-005/similar", params={"limit": 5})
        assert similar.status_code == 200
        assert {i["item_id"] for i in similar.json()["items"]} <= skus
