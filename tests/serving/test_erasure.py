"""THE erasure test: a user with a distinctive email, name and address goes through the API
(preferences, orders, payments, reviews, media, wishlists), the consumers (notifications,
real-time features, the landing sink) and the warehouse load; export shows it all; after
erasure and the ``privacy_erasure`` job, no file under SHOPFLOW_HOME (SQLite, DuckDB,
Parquet, the Redis RDB and AOF, media) and, on PostgreSQL, no data file and no table's text
holds the email, the name or the street address. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import dagster as dg
import duckdb
import redis
import sqlalchemy as sa

from commerce.db import get_engine
from commerce.notifications import service as notify_service
from commerce.privacy import export
from pipelines import raw_load
from pipelines.assets.landing import LandingZoneResource
from pipelines.assets.privacy import applied_erasures
from pipelines.resources import WarehouseResource
from pipelines.streaming.features import FeaturesProcessor
from pipelines.streaming.runner import Record
from pipelines.streaming.sink import SinkProcessor
from shopflow import embedded, events
from shopflow.config import get_settings
from tests.serving.fakes.commerce import ADMIN, auth, outbox, place_order, put_product
from tests.serving.test_reviews_fixtures import png_bytes

USER = "u-erin"
EMAIL = "erin.zephyrine.q7@example.org"
NAME = "Erin Quillfeather-Zephyr"
STREET = "742 Quasimodo Lantern Lane"
PHONE = "+15550172946"
NEEDLES = (EMAIL, NAME, STREET)


def _records(evs: list[events.Envelope]) -> list[Record]:
    return [Record(e, "t", 0, i, 100) for i, e in enumerate(evs)]


def _drive_user(client) -> dict:
    """Everything a shopper does, through the API; returns ids the test checks."""
    me = auth(USER)
    put_product(client, "p1", price=1500, stock=20)
    put_product(client, "p2", price=900, stock=20)
    prefs = {"email": EMAIL, "phone": PHONE, "channels": {"sms": False}}
    assert client.put("/api/notifications/preferences", json=prefs, headers=me).status_code == 200
    order = place_order(client, USER, [("p1", 1), ("p2", 2)])
    body = {
        "order_id": order["id"], "amount_minor": order["total_minor"],
        "currency": order["currency"], "method": "CREDIT_CARD", "payment_method": "pm_card_visa",
        "billing_address": {"line1": STREET, "city": "Springfield", "postal_code": "12345",
                            "country": "US"},
        "customer": {"name": NAME, "email": EMAIL, "phone": PHONE},
    }  # fmt: skip
    created = client.post(
        "/api/payments", json=body, headers={**me, "Idempotency-Key": "erin-pay-1"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["customer"]["name"] == NAME
    pay_id = created.json()["id"]
    assert client.post(f"/api/payments/{pay_id}/confirm", headers=me).status_code == 200
    # a read fills the payment cache in Redis (the body holds the PII)
    assert client.get(f"/api/payments/{pay_id}", headers=me).json()["customer"]["email"] == EMAIL
    # replaying the idempotent create opens the sealed stored response
    again = client.post("/api/payments", json=body, headers={**me, "Idempotency-Key": "erin-pay-1"})
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["billing_address"]["line1"] == STREET

    media = client.post(
        "/api/media", files={"file": ("shot.png", png_bytes(), "image/png")}, headers=me
    )
    assert media.status_code == 201, media.text
    review = client.post(
        "/api/products/p1/reviews",
        json={"rating": 5, "title": "Lovely kettle", "body": "Boils fast and pours cleanly.",
              "media_ids": [media.json()["id"]]},
        headers=me,
    )  # fmt: skip
    assert review.status_code == 201, review.text
    wishlist = client.post("/api/wishlists", json={"name": "later"}, headers=me).json()
    added = client.post(
        f"/api/wishlists/{wishlist['id']}/items", json={"product_id": "p2"}, headers=me
    )
    assert added.status_code == 201
    return {"payment": pay_id, "review": review.json()["id"], "media": media.json()["id"]}


def _drive_pipeline(redis_url: str) -> None:
    """The consumers on the user's events: sign-up (email on the bus), views, commerce."""
    settings = get_settings()
    signup = events.make_event(
        "user.registered", {"country": "US", "email": EMAIL}, user_id=USER,
        event_id=uuid.uuid4().hex, occurred_at="2026-12-01T10:00:00Z",
    )  # fmt: skip
    views = [
        events.make_event(
            "product_view",
            {"item_id": p},
            user_id=USER,
            session_id="s-erin",
            event_id=uuid.uuid4().hex,
            occurred_at="2026-12-01T10:05:00Z",
        )  # fmt: skip
        for p in ("p1", "p2")
    ]
    commerce = [events.parse_event(e) for e in outbox()]
    every = [signup, *views, *commerce]
    for event in every:  # the notifications consumer: remembers the sign-up email, notifies
        notify_service.handle_event(event)
    features = FeaturesProcessor(redis.Redis.from_url(redis_url), settings)
    features.process(_records(views))
    features.flush()
    sink = SinkProcessor(settings)
    sink.process(_records(every))
    sink.flush()
    with duckdb.connect(str(settings.warehouse_path)) as con:
        report = raw_load.load_landing(con, settings.landing_dir)
        assert report.total().rows_loaded >= len(every), report


def _persist_redis(client: redis.Redis) -> None:
    client.bgrewriteaof()
    deadline = time.monotonic() + 30
    while True:
        info = client.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            break
        assert time.monotonic() < deadline, "AOF rewrite did not finish"
        time.sleep(0.05)
    client.save()


def _redis_hits(url: str) -> list[str]:
    """Every key and value in Redis, as text."""
    client = redis.Redis.from_url(url)
    hits = []
    for key in client.scan_iter(count=1000):
        text = f"{key!r} {export.online_store_value(client, key)}"
        hits += [f"redis {key}: {n}" for n in NEEDLES if n in text]
    return hits


def _hits_in_files(root: Path, needles: tuple[str, ...] = NEEDLES) -> list[str]:
    hits = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        hits += [f"{path}: {n}" for n in needles if n.encode() in data]
    return hits


def _postgres_hits(needles: tuple[str, ...] = NEEDLES) -> list[str]:
    """Every table's rows as text, and every file of the server's data directory."""
    engine = get_engine()
    hits = []
    with engine.connect() as con:
        tables = con.execute(
            sa.text("select tablename from pg_tables where schemaname = 'public'")
        ).scalars()
        for table in list(tables):
            text = " ".join(
                con.execute(sa.text(f'select t::text from "{table}" t')).scalars().all()
            )
            hits += [f"table {table}: {n}" for n in needles if n in text]
        con.execute(sa.text("checkpoint"))
        data_dir = Path(con.execute(sa.text("show data_directory")).scalar_one())
    return hits + _hits_in_files(data_dir, needles)


def test_erasure_leaves_no_trace(api_client, database: str) -> None:
    settings = get_settings()
    ids = _drive_user(api_client)
    redis_url = embedded.ensure_redis(settings)
    _drive_pipeline(redis_url)
    me = auth(USER)

    doc = api_client.get(f"/api/users/{USER}/export", headers=me)
    assert doc.status_code == 200, doc.text
    doc = doc.json()
    assert doc["profile"]["contacts"]["email"] == EMAIL
    assert doc["profile"]["contacts"]["phone"] == PHONE
    assert doc["payments"][0]["customer"]["name"] == NAME
    assert doc["payments"][0]["billing_address"]["line1"] == STREET
    assert len(doc["orders"]) == 1 and doc["payment_ledger"]
    assert [r["id"] for r in doc["reviews"]] == [ids["review"]]
    assert doc["review_media"][0]["url"] == f"/api/media/{ids['media']}"
    assert doc["wishlists"][0]["items"][0]["product_id"] == "p2"
    assert doc["notifications"] and doc["notification_deliveries"]
    assert isinstance(doc["experiment_assignments"], list)
    assert any(k.endswith(":feat") for k in doc["online_store"]), doc["online_store"]
    assert "raw.user_registered" in doc["warehouse"]["tables"]
    assert "raw.product_view" in doc["warehouse"]["tables"]
    # the warehouse and landing never held the email (it is PII: it does not land)
    assert "email" not in doc["warehouse"]["tables"]["raw.user_registered"]["rows"][0]
    # nobody else may read it
    assert api_client.get(f"/api/users/{USER}/export", headers=auth("mallory")).status_code == 403

    # plaintext PII exists only in memory: the cached payment body in Redis (its files
    # compress values, so Redis is also searched key by key)
    assert _redis_hits(redis_url), "the Redis scan sees the cached payment body"

    erased = api_client.delete(f"/api/users/{USER}", headers=me)
    assert erased.status_code == 202, erased.text
    assert erased.json()["status"] == "pipeline_pending"
    assert erased.json()["steps"] == ["online_store", "reviews", "records", "data_key"]
    result = dg.materialize(
        [applied_erasures],
        resources={
            "landing_zone": LandingZoneResource(home=str(settings.home_dir)),
            "warehouse": WarehouseResource(path=str(settings.warehouse_path)),
        },
    )
    assert result.success
    again = api_client.delete(f"/api/users/{USER}", headers=auth(ADMIN, "admin"))
    assert again.status_code == 202 and again.json()["status"] == "done"
    assert again.json()["id"] == erased.json()["id"]  # erasing twice is one erasure

    after = api_client.get(f"/api/users/{USER}/export", headers=auth(ADMIN, "admin")).json()
    assert after["profile"]["contacts"] is None
    assert after["profile"]["data_key"]["erased_at"]
    assert after["payments"][0]["customer"] is None  # kept for accounting, without PII
    assert after["payments"][0]["status"] == "COMPLETED" and after["payment_ledger"]
    assert after["reviews"] == [] and after["review_media"] == [] and after["wishlists"] == []
    assert after["notifications"] == [] and after["online_store"] == {}
    assert after["warehouse"]["tables"] == {}
    kept = api_client.get(f"/api/reviews/{ids['review']}", headers=auth(ADMIN, "admin")).json()
    assert kept["user_id"].startswith("deleted user") and kept["body"]
    assert api_client.get(f"/api/payments/{ids['payment']}", headers=me).json()["customer"] is None

    _persist_redis(redis.Redis.from_url(redis_url))
    assert _redis_hits(redis_url) == []
    assert _hits_in_files(settings.home_dir) == []
    # the scans do see plaintext that is stored: a product title
    control = ("Product p1",)
    if database.startswith("postgresql"):
        assert _postgres_hits() == []
        assert any(not hit.startswith("table") for hit in _postgres_hits(control))
    else:
        assert _hits_in_files(settings.home_dir, control)


def test_unknown_user_erasure_is_404_and_empty_export_is_valid(api_client) -> None:
    admin = auth(ADMIN, "admin")
    gone = api_client.delete("/api/users/nobody-here", headers=admin)
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("application/problem+json")
    doc = api_client.get("/api/users/nobody-here/export", headers=admin)
    assert doc.status_code == 200
    body = doc.json()
    assert body["user_id"] == "nobody-here" and body["orders"] == [] and body["payments"] == []
    assert body["profile"] == {"contacts": None, "data_key": None}
    assert api_client.delete("/api/users/x", headers=auth("y")).status_code == 403
