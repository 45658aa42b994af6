"""The catalog: admins upsert products; anyone reads them. Price and stock changes go to the
outbox as product.price_changed / product.stock_changed (plus product.upserted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field, ValidationError
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from commerce import outbox
from commerce.common import (
    CurrencyCode,
    PriceMinor,
    RequestModel,
    StaleWrite,
    transact,
)
from commerce.db import rowcount, session_scope, upsert, utcnow
from commerce.db.models.commerce import Product
from commerce.errors import NotFound
from shopflow.config import Settings, get_settings

Stock = Annotated[int, Field(ge=0, le=1_000_000_000, strict=True)]


class ProductIn(RequestModel):
    title: Annotated[str, Field(min_length=1, max_length=500)]
    description: Annotated[str, Field(max_length=20_000)] = ""
    category: Annotated[str, Field(min_length=1, max_length=200)]
    brand: Annotated[str, Field(max_length=200)] = ""
    price_minor: PriceMinor
    currency: CurrencyCode
    stock: Stock = 0
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=100)


def product_dict(p: Product) -> dict[str, Any]:
    return {
        "id": p.id,
        "title": p.title,
        "description": p.description,
        "category": p.category,
        "brand": p.brand,
        "price_minor": p.price_minor,
        "currency": p.currency,
        "stock": p.stock,
        "attributes": p.attributes or {},
        "created_at": p.created_at.isoformat(),
        "updated_at": p.updated_at.isoformat(),
    }


def _upserted_payload(product_id: str, data: ProductIn) -> dict[str, Any]:
    return {
        "item_id": product_id,
        "title": data.title,
        "description": data.description,
        "category": data.category,
        "category_path": str(data.attributes.get("category_path", data.category)),
        "brand": data.brand,
        "price_minor": data.price_minor,
        "currency": data.currency,
        "stock": data.stock,
    }


def upsert_product(product_id: str, data: ProductIn) -> tuple[dict[str, Any], bool]:
    """Create or replace a product. Returns (product, created). A PUT that changes nothing
    writes nothing and emits nothing."""

    def work(session: Session) -> tuple[dict[str, Any], bool]:
        product = session.get(Product, product_id, with_for_update=True)
        created = product is None
        if product is None:
            product = Product(id=product_id, **data.model_dump())
            session.add(product)
            session.flush()
            outbox.enqueue(
                session, "product.upserted", _upserted_payload(product_id, data), product_id
            )
            return product_dict(product), True
        old_price, old_stock = product.price_minor, product.stock
        changed = {k: v for k, v in data.model_dump().items() if getattr(product, k) != v}
        if not changed:
            return product_dict(product), False
        _compare_and_set(session, product, changed)
        outbox.enqueue(session, "product.upserted", _upserted_payload(product_id, data), product_id)
        if "price_minor" in changed or "currency" in changed:
            outbox.enqueue(
                session,
                "product.price_changed",
                {
                    "item_id": product_id,
                    "old_price_minor": old_price,
                    "new_price_minor": data.price_minor,
                    "currency": data.currency,
                },
                product_id,
            )
        if "stock" in changed:
            outbox.enqueue(
                session,
                "product.stock_changed",
                {"item_id": product_id, "old_stock": old_stock, "new_stock": data.stock},
                product_id,
            )
        return product_dict(product), created

    return transact(work)


def _compare_and_set(session: Session, product: Product, changed: dict[str, Any]) -> None:
    """Write ``changed`` only if stock, price and currency are still what this transaction
    read: an order's stock decrement committed in between (SQLite reads before the first
    write see no lock) makes it a StaleWrite, and ``transact`` re-reads and retries, so the
    new absolute stock never overwrites a decrement it did not see, and the event's
    old_stock is the stock it replaced."""
    table = Product.__table__
    values = {**changed, "updated_at": utcnow()}
    result = session.execute(
        update(table)
        .where(
            table.c.id == product.id,
            table.c.stock == product.stock,
            table.c.price_minor == product.price_minor,
            table.c.currency == product.currency,
        )
        .values(**values)
    )
    if rowcount(result) != 1:
        raise StaleWrite(product.id)
    for key, value in values.items():
        set_committed_value(product, key, value)


def get_product(product_id: str) -> dict[str, Any]:
    with session_scope() as session:
        product = session.get(Product, product_id)
        if product is None:
            raise NotFound(f"product {product_id} not found", product_id=product_id)
        return product_dict(product)


def list_products(
    *,
    category: str | None = None,
    brand: str | None = None,
    q: str | None = None,
    min_price: int | None = None,
    max_price: int | None = None,
    in_stock: bool | None = None,
    limit: int = 20,
    offset: int = 0,
) -> dict[str, Any]:
    """Filtered, stably ordered page of products plus the total that matched."""
    query = select(Product)
    if category:
        query = query.where(Product.category == category)
    if brand:
        query = query.where(Product.brand == brand)
    if q:
        like = f"%{q.lower()}%"
        query = query.where(
            or_(func.lower(Product.title).like(like), func.lower(Product.description).like(like))
        )
    if min_price is not None:
        query = query.where(Product.price_minor >= min_price)
    if max_price is not None:
        query = query.where(Product.price_minor <= max_price)
    if in_stock is not None:
        query = query.where(Product.stock > 0 if in_stock else Product.stock == 0)
    with session_scope() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(Product.id).limit(limit).offset(offset)).all()
        items = [product_dict(p) for p in rows]
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@dataclass(frozen=True)
class CatalogSync:
    """What :func:`sync_catalog_from_landing` did, per product."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0  # changed here after the newest landing row: the OLTP row wins
    rejected: dict[str, str] = field(default_factory=dict)  # item id -> why

    @property
    def products(self) -> int:
        return self.inserted + self.updated + self.unchanged + self.kept


def sync_catalog_from_landing(settings: Settings | None = None, batch: int = 2000) -> CatalogSync:
    """Keep the products table in step with the landing catalog (the newest product.upserted
    row of every item). A missing product is inserted. An existing one takes the landing row
    only when that row occurred after the product's ``updated_at``: a price or stock an admin
    set (or an order's stock decrement) later than the landing data stays, a newer import
    wins. No outbox events (the landing zone has them already). Idempotent."""
    settings = settings or get_settings()
    latest = _latest_landing_rows(settings)
    rejected: dict[str, str] = {}
    incoming: dict[str, tuple[datetime, dict[str, Any]]] = {}
    for item_id, row in latest.items():
        try:
            incoming[item_id] = (row["occurred_at"], _landing_product(row))
        except ValidationError as exc:
            rejected[item_id] = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
        except (KeyError, TypeError, ValueError) as exc:
            rejected[item_id] = f"{type(exc).__name__}: {exc}"
    counts = {"inserted": 0, "updated": 0, "unchanged": 0, "kept": 0}
    ids = sorted(incoming)
    url = settings.sqlalchemy_url
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        with session_scope(url) as session:
            existing = {
                p.id: p for p in session.scalars(select(Product).where(Product.id.in_(chunk)))
            }
            writes = []
            for item_id in chunk:
                occurred_at, row = incoming[item_id]
                product = existing.get(item_id)
                if product is None:
                    counts["inserted"] += 1
                elif _as_utc(occurred_at) <= _as_utc(product.updated_at):
                    counts["kept"] += 1
                    continue
                elif all(getattr(product, k) == v for k, v in row.items() if k != "id"):
                    counts["unchanged"] += 1
                    continue
                else:
                    counts["updated"] += 1
                writes.append({**row, "updated_at": _as_utc(occurred_at)})  # as of the landing
            if writes:
                _bulk_upsert(session, writes)
    return CatalogSync(**counts, rejected=rejected)


def _latest_landing_rows(settings: Settings) -> dict[str, dict[str, Any]]:
    import pyarrow.dataset as ds

    from shopflow import landing

    folder = landing.event_dir("product.upserted", settings)
    files = sorted(str(p) for p in folder.glob("event_date=*/*.parquet"))
    if not files:
        return {}
    table = ds.dataset(files, format="parquet").to_table()
    latest: dict[str, dict[str, Any]] = {}
    for row in sorted(table.to_pylist(), key=lambda r: _as_utc(r["occurred_at"])):
        latest[row["item_id"]] = row
    return latest


def _landing_product(row: dict[str, Any]) -> dict[str, Any]:
    """A products-table row from a landing row, checked as an admin's PUT would be."""
    data = ProductIn(
        title=row["title"],
        description=row.get("description") or "",
        category=row["category"],
        brand=row.get("brand") or "",
        price_minor=int(row["price_minor"]),
        currency=row["currency"],
        stock=int(row["stock"]),
        attributes={"category_path": row.get("category_path") or row["category"]},
    )
    return {"id": row["item_id"], **data.model_dump()}


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _bulk_upsert(session: Session, rows: list[dict[str, Any]]) -> None:

    now = utcnow()
    for row in rows:
        row.setdefault("created_at", now)
        row.setdefault("updated_at", now)
    stmt = upsert(session, Product).values(rows)
    updatable = [c for c in rows[0] if c not in ("id", "created_at")]
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"], set_={c: stmt.excluded[c] for c in updatable}
    )
    session.execute(stmt)
