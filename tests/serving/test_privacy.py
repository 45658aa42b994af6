"""Privacy building blocks on the real databases: the keyring and sealed fields, lookup by
email hash, review redaction, an erasure resumed after a crash, landing files cleaned, and
the ``shopflow privacy`` commands."""

from __future__ import annotations

import base64
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import text
from typer.testing import CliRunner

from cli.main import app
from commerce import audit
from commerce.db import session_scope
from commerce.db.models.commerce import Payment
from commerce.db.models.privacy import ErasureRequest
from commerce.notifications import preferences
from commerce.privacy import erasure, fields
from commerce.privacy.keyring import Keyring, LocalMasterKey, decode_key, get_keyring
from commerce.wishlists import service as wishlists
from pipelines.privacy import erase_files
from tests.serving.fakes.commerce import auth, payment_body, place_order, put_product


def test_master_key_wraps_per_user_and_bad_keys_are_refused() -> None:
    wrapper = LocalMasterKey(b"k" * 32)
    wrapped = wrapper.wrap(b"d" * 32, "alice")
    assert wrapper.unwrap(wrapped, "alice") == b"d" * 32
    with pytest.raises(InvalidTag):  # a wrapped key moved to another user does not open
        wrapper.unwrap(wrapped, "bob")
    with pytest.raises(ValueError, match="master_key must be 32 bytes"):
        decode_key(base64.b64encode(b"short").decode(), "master_key")
    with pytest.raises(ValueError, match="not valid base64"):
        decode_key("not base64!", "master_key")


def test_sealed_contacts_open_in_memory_and_shred(database: str) -> None:
    prefs = preferences.Preferences(email="Zed.Unique@example.org", phone="+15550001111")
    with session_scope() as session:
        preferences.save(session, "zed", prefs)
    with session_scope() as session:
        raw = session.execute(
            text("select email, phone, email_hash from notification_preferences")
        ).one()
        assert raw.email.startswith(fields.PREFIX) and "Zed" not in raw.email
        assert preferences.load(session, "zed").email == "Zed.Unique@example.org"
        assert preferences.find_by_email(session, " zed.unique@EXAMPLE.org") == "zed"
        assert preferences.find_by_email(session, "other@example.org") is None
    with session_scope() as session:
        assert get_keyring().shred(session, "zed") is True
    with session_scope() as session:
        assert preferences.load(session, "zed").email is None  # unreadable everywhere now
        assert fields.is_erased(session, "zed")
        assert get_keyring().shred(session, "zed") is False  # idempotent
        preferences.remember_email(session, "zed", "late@example.org")  # a late sign-up event
        assert preferences.load(session, "zed").email is None


def test_key_cache_is_bounded_and_forgets_on_shred(database: str) -> None:
    ring = Keyring(LocalMasterKey(b"m" * 32), cache_size=2, ttl_s=60)
    with session_scope() as session:
        keys = [ring.dek(session, f"u{i}", create=True) for i in range(3)]
    assert len(set(keys)) == 3 and len(ring._cache) == 2
    with session_scope() as session:
        assert ring.dek(session, "u0") == keys[0]  # reloaded and unwrapped from the table
        ring.shred(session, "u0")
    with session_scope() as session, pytest.raises(Exception, match="was erased"):
        ring.dek(session, "u0")


def test_erasure_resumes_after_a_crash_and_redacts_reviews(
    api_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_product(api_client, "p1", price=1000, stock=5)
    order = place_order(api_client, "ivy", [("p1", 1)])
    body = payment_body(order)
    body["customer"] = {"name": "Ivy Brightwater", "email": "ivy.b@example.org"}
    pay = api_client.post("/api/payments", json=body, headers=auth("ivy"))
    assert pay.status_code == 201
    review = api_client.post(
        "/api/products/p1/reviews",
        json={"rating": 4, "title": "Great", "body": "Signed, Ivy Brightwater (IVY.B@example.org)"},
        headers=auth("ivy"),
    ).json()

    def crash(*_args: object) -> int:
        raise RuntimeError("power cut")

    monkeypatch.setattr(erasure, "_records", crash)
    with pytest.raises(RuntimeError):
        erasure.erase("ivy", "ops", None)
    with session_scope() as session:
        req = session.query(ErasureRequest).one()
        assert req.status == erasure.RUNNING and req.steps == ["online_store", "reviews"]
    monkeypatch.undo()
    done = erasure.erase("ivy", "ops", None)  # the same request, finished
    assert done["id"] == req.id and done["status"] == erasure.PIPELINE_PENDING
    assert done["steps"] == list(erasure.DOMAIN_STEPS)
    with session_scope() as session:
        payment = session.get(Payment, pay.json()["id"])
        assert payment is not None and payment.customer is None and payment.user_id == "ivy"
    kept = api_client.get(f"/api/reviews/{review['id']}", headers=auth("admin-1", "admin")).json()
    assert kept["body"] == "Signed, [removed] ([removed])"
    assert kept["user_id"] == f"deleted user:{review['id']}"


def test_landing_files_lose_the_users_rows_and_pii_columns(tmp_path) -> None:
    old = pa.table({"user_id": ["a", "b", None], "country": ["US", "DE", "FR"],
                    "email": ["a@x.org", "b@x.org", None]})  # fmt: skip
    path = tmp_path / "user_registered" / "event_date=2026-12-01" / "old.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(old, path)
    only = tmp_path / "product_view" / "only-a.parquet"
    only.parent.mkdir(parents=True)
    pq.write_table(pa.table({"user_id": ["a"], "item_id": ["p1"]}), only)
    assert erase_files(tmp_path, ["a"]) == 2
    left = pq.read_table(path)
    assert left.column_names == ["user_id", "country"]
    assert left["user_id"].to_pylist() == ["b", None]
    assert not only.exists()
    assert erase_files(tmp_path, ["a"]) == 0  # idempotent


def test_cli_export_and_erase(database: str, tmp_path) -> None:
    with session_scope() as session:
        preferences.save(session, "cli-user", preferences.Preferences(email="c@example.org"))
    out = tmp_path / "export.json"
    runner = CliRunner()
    result = runner.invoke(app, ["privacy", "export", "cli-user", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["profile"]["contacts"]["email"] == "c@example.org"
    result = runner.invoke(app, ["privacy", "erase", "cli-user"])
    assert result.exit_code == 0, result.output
    first = json.loads(result.stdout)
    assert first["status"] == erasure.DONE
    again = json.loads(runner.invoke(app, ["privacy", "erase", "cli-user"]).stdout)
    assert again["id"] == first["id"]  # erasing twice is one erasure
    wishlists.create_wishlist("cli-user", "after")  # the id comes back with new data
    later = json.loads(runner.invoke(app, ["privacy", "erase", "cli-user"]).stdout)
    assert later["id"] != first["id"] and later["status"] == erasure.DONE
    assert wishlists.wishlists_of("cli-user") == []
    missing = runner.invoke(app, ["privacy", "erase", "nobody"])
    assert missing.exit_code == 2 and "user nobody not found" in missing.output
    kept = [e["action"] for e in audit.query(action="cli:privacy*").items]
    assert kept == ["cli:privacy erase"] * 3 + ["cli:privacy export"]  # the operator's acts


def test_sensor_runs_the_job_only_while_erasures_wait(database: str) -> None:
    import dagster as dg

    from pipelines.assets.privacy import pending_erasures

    assert isinstance(pending_erasures(dg.build_sensor_context()), dg.SkipReason)
    with session_scope() as session:
        preferences.save(session, "sam", preferences.Preferences(email="s@example.org"))
    erasure.erase("sam", "ops", None)
    request = pending_erasures(dg.build_sensor_context())
    assert isinstance(request, dg.RunRequest) and request.tags["erasures"] == "1"


def test_seal_existing_seals_rows_written_in_the_clear(database: str) -> None:
    from commerce.db.models.commerce import Order
    from commerce.db.models.notifications import NotificationPreference

    with session_scope() as session:  # rows as the code before field encryption wrote them
        session.add(NotificationPreference(
            user_id="old", email="old@example.org", phone="+15550002222", channels={},
            categories={},
        ))  # fmt: skip
        session.add(Order(id="o-old", user_id="old", status="PAID", total_minor=100,
                          currency="USD"))  # fmt: skip
        session.flush()
        session.add(Payment(
            id="pay-old", order_id="o-old", user_id="old", amount_minor=100, currency="USD",
            method="CREDIT_CARD", gateway="test", status="COMPLETED",
            billing_address={"line1": "9 Old Street"}, customer={"name": "Olde Payer"},
        ))  # fmt: skip
    result = CliRunner().invoke(app, ["privacy", "seal-existing"])
    assert result.exit_code == 0, result.output
    assert "notification_preferences: 1 sealed, payments: 1 sealed" in result.output
    with session_scope() as session:
        raw = session.execute(text("select email, phone from notification_preferences")).one()
        assert raw.email.startswith(fields.PREFIX) and raw.phone.startswith(fields.PREFIX)
        assert preferences.load(session, "old").email == "old@example.org"
        assert preferences.find_by_email(session, "old@example.org") == "old"
        pay = session.execute(text("select billing_address, customer from payments")).one()
        assert "Old Street" not in str(pay) and "Olde" not in str(pay)
        payment = session.get(Payment, "pay-old")
        assert payment is not None
        assert fields.unseal_json(session, "old", payment.customer) == {"name": "Olde Payer"}
    again = CliRunner().invoke(app, ["privacy", "seal-existing"])
    assert "notification_preferences: 0 sealed" in again.output  # idempotent


def test_erasure_takes_the_users_published_lists_and_their_names_in_the_index(
    database: str, redis_client
) -> None:
    from pipelines.publish import PublishBundle, publish
    from shopflow.online_store import keys

    with session_scope() as session:
        preferences.save(session, "gus", preferences.Preferences(email="gus@example.org"))
    lists = {"gus": [("i1", 1.0)], "hal": [("i2", 1.0)]}
    report = publish(redis_client, PublishBundle(recs={"champion": lists},
                                                 history={"gus": [("i1", 2.0)]}))  # fmt: skip
    erasure.erase("gus", "ops", redis_client)
    version = report.version
    gone = (keys.user_recs(version, "gus"), keys.user_history(version, "gus"))
    assert not redis_client.exists(*gone)
    index = [json.loads(b) for b in redis_client.lrange(keys.version_index(version), 0, -1)]
    named = {name for names in index for name in names}
    assert keys.user_recs(version, "hal") in named  # everyone else's names stay
    assert not any("gus" in name for name in named)
