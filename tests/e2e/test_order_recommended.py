"""Outside the demo: generate, materialize, serve; every recommended item can be ordered
(the oltp_catalog asset seeded the commerce catalog from the landing zone)."""

from __future__ import annotations

import duckdb
import pytest
from fastapi.testclient import TestClient

from cli.commands.materialize import failed_steps, materialize_all
from shopflow.config import Settings
from shopflow.generate import generate_shop
from tests.serving.fakes.commerce import auth

pytestmark = pytest.mark.e2e


def test_a_recommended_item_can_be_ordered(shopflow_home: Settings) -> None:
    generate_shop(150, 10, 5, settings=shopflow_home, progress=False)
    result = materialize_all(shopflow_home)
    assert result.success, failed_steps(result)
    with duckdb.connect(str(shopflow_home.warehouse_path), read_only=True) as con:
        row = con.execute(
            "select user_id from fct_interactions group by 1 order by count(*) desc limit 1"
        ).fetchone()
    assert row is not None
    user_id = str(row[0])

    from serving.app import create_app

    with TestClient(create_app(), headers=auth(user_id)) as client:
        assert client.get("/api/products", params={"limit": 1}).json()["total"] > 0
        recommended = client.get(f"/recommendations/{user_id}", params={"limit": 10}).json()
        items = [item["item_id"] for item in recommended["items"]]
        assert items, recommended
        in_stock = [i for i in items if client.get(f"/api/products/{i}").json().get("stock", 0) > 0]
        assert in_stock, "no recommended item is in the OLTP catalog with stock"
        order = client.post(
            "/api/orders", json={"lines": [{"product_id": in_stock[0], "quantity": 1}]}
        )
        assert order.status_code == 201, order.text
        assert order.json()["lines"][0]["product_id"] == in_stock[0]
