"""Helpers for the reviews, wishlists and compare tests: real rows in the real database."""

from __future__ import annotations

import io
import uuid
from typing import Any

from PIL import Image

from commerce.auth import mint_token
from commerce.db import session_scope
from commerce.db.models.commerce import Order, OrderLine, Product


def auth(user: str, role: str = "customer") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(user, [role])}"}


ADMIN = auth("admin-1", "admin")


def make_product(product_id: str, price: int = 1000, stock: int = 5, **attributes: Any) -> str:
    with session_scope() as session:
        session.add(
            Product(
                id=product_id,
                title=f"Product {product_id}",
                description="",
                category="Shoes",
                brand="Acme",
                price_minor=price,
                currency="USD",
                stock=stock,
                attributes=attributes,
            )
        )
    return product_id


def make_order(user: str, product_ids: list[str], status: str = "PAID") -> str:
    order_id = f"o-{uuid.uuid4().hex[:10]}"
    with session_scope() as session:
        session.add(
            Order(id=order_id, user_id=user, status=status, total_minor=1000, currency="USD")
        )
        session.flush()
        for pid in product_ids:
            session.add(
                OrderLine(order_id=order_id, product_id=pid, quantity=1, unit_price_minor=1000)
            )
    return order_id


def png_bytes(size: tuple[int, int] = (64, 48), exif: bool = False) -> bytes:
    img = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    if exif:
        data = Image.Exif()
        data[0x010F] = "SecretCam"  # Make
        data[0x8825] = {2: (1.0, 2.0, 3.0)}  # GPS
        img.save(out, format="PNG", exif=data.tobytes())
    else:
        img.save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes(size: tuple[int, int] = (80, 60), exif: bool = True) -> bytes:
    img = Image.new("RGB", size, (10, 120, 200))
    out = io.BytesIO()
    data = Image.Exif()
    if exif:
        data[0x010F] = "SecretCam"
        data[0x0112] = 6  # orientation: rotate 90
    img.save(out, format="JPEG", exif=data.tobytes())
    return out.getvalue()


def mp4_bytes(seconds: float = 5.0) -> bytes:
    """A minimal, well-formed MP4 box structure: ftyp + moov(mvhd) + mdat."""
    import struct

    timescale = 1000
    mvhd_body = (
        b"\x00\x00\x00\x00"
        + struct.pack(">IIII", 0, 0, timescale, int(seconds * timescale))
        + b"\x00" * 80
    )
    mvhd = struct.pack(">I4s", 8 + len(mvhd_body), b"mvhd") + mvhd_body
    moov = struct.pack(">I4s", 8 + len(mvhd), b"moov") + mvhd
    ftyp_body = b"isom\x00\x00\x02\x00isomiso2mp41"
    ftyp = struct.pack(">I4s", 8 + len(ftyp_body), b"ftyp") + ftyp_body
    payload = bytes(range(256)) * 8
    mdat = struct.pack(">I4s", 8 + len(payload), b"mdat") + payload
    return ftyp + moov + mdat


def put_product(client: Any, product_id: str, price: int = 1000, stock: int = 5, **attrs: Any):
    """Create or replace a product through the catalog API (as an admin)."""
    body = {
        "title": f"Product {product_id}",
        "category": "Shoes",
        "brand": attrs.pop("brand", "Acme"),
        "price_minor": price,
        "currency": "USD",
        "stock": stock,
        "attributes": attrs,
    }
    response = client.put(f"/api/products/{product_id}", json=body, headers=ADMIN)
    assert response.status_code in (200, 201), response.text
    return response.json()


def place_order(client: Any, user: str, product_ids: list[str]) -> str:
    lines = [{"product_id": pid, "quantity": 1} for pid in product_ids]
    response = client.post("/api/orders", json={"lines": lines}, headers=auth(user))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def set_order_status(order_id: str, status: str) -> None:
    """Move an order through the commerce service's own transitions."""
    from commerce import orders

    with session_scope() as session:
        order = session.get(Order, order_id)
        if status == "PAID":
            orders.mark_paid(session, order)
        elif status == "REFUNDED":
            orders.mark_refunded(session, order)
