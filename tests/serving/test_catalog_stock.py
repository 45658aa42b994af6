"""Admin stock PUTs racing orders: no order's decrement is lost (SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from commerce import catalog, orders
from commerce.common import StaleWrite
from commerce.db import session_scope
from commerce.db.models.commerce import Product
from tests.serving.fakes.commerce import outbox


def _product(stock: int, price: int = 500) -> catalog.ProductIn:
    return catalog.ProductIn(
        title="Lamp", category="home", price_minor=price, currency="USD", stock=stock
    )


def test_stock_put_racing_orders_loses_no_decrement(database: str) -> None:
    catalog.upsert_product("lamp", _product(1000))
    one = orders.OrderIn.model_validate({"lines": [{"product_id": "lamp", "quantity": 1}]})

    with ThreadPoolExecutor(max_workers=8) as pool:
        jobs = []
        for i in range(48):  # orders and absolute restocks (with a price change) interleaved
            jobs.append(pool.submit(orders.place_order, f"u{i % 5}", one))
            if i % 4 == 0:
                jobs.append(
                    pool.submit(catalog.upsert_product, "lamp", _product(5000 + 10 * i, 500 + i))
                )
        for job in jobs:
            job.result()
    # every committed stock change continues from the one before it: an absolute PUT that
    # overwrote a decrement it had not seen would break the chain
    chain = [e["payload"] for e in outbox("product.stock_changed")]
    assert chain[0]["old_stock"] == 1000
    for before, after in zip(chain, chain[1:], strict=False):
        assert after["old_stock"] == before["new_stock"], (before, after)
    assert len(outbox("order_placed")) == 48
    with session_scope() as session:
        assert session.get(Product, "lamp").stock == chain[-1]["new_stock"]


def test_stale_stock_write_is_refused(database: str) -> None:
    catalog.upsert_product("desk", _product(10))
    with session_scope() as session:
        seen = session.get(Product, "desk")
        assert seen is not None
    data = orders.OrderIn.model_validate({"lines": [{"product_id": "desk", "quantity": 3}]})
    orders.place_order("u1", data)  # commits stock 7 after `seen` read 10
    try:
        with session_scope() as session:
            stale = session.merge(seen, load=False)
            catalog._compare_and_set(session, stale, {"stock": 50})
        raise AssertionError("a write based on a stale stock must be refused")
    except StaleWrite:
        pass
    catalog.upsert_product("desk", _product(50))
    with session_scope() as session:
        assert session.get(Product, "desk").stock == 50
    last = outbox("product.stock_changed")[-1]["payload"]
    assert (last["old_stock"], last["new_stock"]) == (7, 50)
