"""Issue 21 fault run, part 3: bounded inputs answer a 4xx problem, never a 500."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from commerce.errors import Invalid
from commerce.notifications import templates
from commerce.payments.gateways.card_data import find_card_data, luhn_valid
from commerce.reviews import media_store
from serving.deps import DB_INT_MAX
from shopflow.config import PACKAGE_ROOT, Settings, get_settings
from tests.serving.fakes.commerce import ADMIN, auth, payment_body, place_order, put_product

TOO_BIG = str(DB_INT_MAX + 1)  # 9223372036854775808
LIST_URLS = (
    "/api/orders",
    "/api/notifications",
    "/api/products",
    "/api/payments/status/PENDING",
    "/api/payments/user/alice",
    "/api/payments/order/ord_x",
)


@pytest.mark.parametrize("url", LIST_URLS)
def test_offsets_past_the_database_integer_range_are_422(api_client, url) -> None:
    admin = auth(ADMIN, "admin")
    for params in ({"offset": TOO_BIG}, {"offset": "-1"}, {"limit": "0"}, {"limit": TOO_BIG}):
        resp = api_client.get(url, params=params, headers=admin)
        assert resp.status_code == 422, (params, resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
    last = api_client.get(url, params={"offset": str(DB_INT_MAX)}, headers=admin)
    assert last.status_code in (200, 404), last.text  # 404: the order of ord_x is unknown
    assert api_client.get("/health").status_code == 200  # the app still serves


def test_server_issued_ids_are_not_taken_for_card_numbers(api_client) -> None:
    # The id: its digit run 5300965216046 passes Luhn.
    order_id = "ord_d5300965216046eba10b23a3490fc030"
    assert luhn_valid("5300965216046")
    assert find_card_data({"order_id": order_id, "ids": [order_id]}) is None
    assert find_card_data({"note": "card 4111 1111 1111 1111"}) == "note"
    assert find_card_data({"order_id": "x", "cvc": "123"}) == "cvc"

    put_product(api_client, "p1", price=1250, stock=5)
    order = place_order(api_client, "alice", [("p1", 1)])
    body = {**payment_body(order), "order_id": order_id}
    resp = api_client.post("/api/payments", json=body, headers=auth("alice"))
    assert resp.status_code == 404, resp.text  # an unknown order, not "card data"


def test_oversized_bodies_get_413_before_they_are_read(api_client) -> None:
    limit = get_settings().max_json_body_bytes
    alice = auth("alice")
    big = b'{"lines": [' + b" " * limit + b"]}"
    declared = api_client.post(
        "/api/orders", content=big, headers={**alice, "content-type": "application/json"}
    )
    assert declared.status_code == 413, declared.text
    assert declared.json()["limit_bytes"] == limit

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        yield b'{"lines": ['
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536
        yield b"]}"

    chunked = api_client.post(
        "/api/orders", content=chunks(), headers={**alice, "content-type": "application/json"}
    )
    assert chunked.status_code == 413, chunked.text
    assert chunked.headers["content-type"] == "application/problem+json"
    upload_cap = get_settings().max_upload_body_bytes
    media = api_client.post(
        "/api/media",
        files={"file": ("x.png", b"\0" * (upload_cap + 1), "image/png")},
        headers=alice,
    )
    assert media.status_code == 413, media.text


def _blank_png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("1", (width, height)).save(out, format="PNG", optimize=True)
    return out.getvalue()


def test_image_dimensions_are_checked_from_the_header(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    bomb = _blank_png(6300, 6300)  # 40 Mpx of zeros in a few hundred KB
    assert len(bomb) < settings.media_max_image_bytes
    with pytest.raises(Invalid, match="6300x6300"):
        media_store.process("bomb.png", bomb, settings)
    ok = media_store.process("ok.png", _blank_png(400, 300), settings)
    assert (ok.width, ok.height) == (400, 300)


def test_template_output_is_capped() -> None:
    for source in (
        "{{ 'a' * 10000000 }}",
        "{{ 10 ** 100000 }}",
        "{% for i in range(100000) %}{% for j in range(100) %}x{% endfor %}{% endfor %}",
    ):
        with pytest.raises(templates.TemplateRenderError, match="text"):
            templates.render(None, source, None, {})
    assert templates.render(None, "{{ 'ab' * 3 }}", None, {}).text == "ababab"


def test_template_preview_past_the_cap_is_a_422(api_client) -> None:
    body = {"channel": "email", "subject": "s", "text": "{{ 'a' * 10000000 }}", "html": None}
    resp = api_client.post(
        "/api/notifications/templates/preview", json=body, headers=auth(ADMIN, "admin")
    )
    assert resp.status_code == 422, resp.text
    assert "longer than" in resp.json()["detail"]


def test_deleting_a_template_version_is_a_clean_204(api_client) -> None:
    admin = auth(ADMIN, "admin")
    base = "/api/notifications/templates/payment_receipt/email"
    part = {"subject": "Receipt", "text": "Paid {{ amount_minor }}", "html": None}
    saved = api_client.post(base, json=part, headers=admin)  # version 2 becomes active
    assert saved.status_code == 201 and saved.json()["version"] == 2, saved.text
    resp = api_client.delete(f"{base}/versions/1", headers=admin)
    assert resp.status_code == 204 and resp.content == b""
    assert resp.headers.get("content-length") in (None, "0")
    huge = api_client.delete(f"{base}/versions/{TOO_BIG}", headers=admin)
    assert huge.status_code == 422


def test_unconfigured_paypal_webhook_is_404_like_the_others(api_client) -> None:
    resp = api_client.post("/api/payments/webhooks/paypal", json={"id": "x"})
    assert resp.status_code == 404 and "not configured" in resp.json()["detail"]
    twilio = api_client.post("/api/notifications/webhooks/twilio", data={"x": "y"})
    assert twilio.status_code == 404


def test_config_files_are_found_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHOPFLOW_EXPERIMENTS_FILE", raising=False)
    settings = Settings(home=tmp_path / "home")
    assert settings.experiments_file == PACKAGE_ROOT / "experiments.yaml"
    assert settings.experiments_file.is_file() and settings.notifications_file.is_file()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "experiments.yaml").write_text("experiments: []\n")
    in_home = Settings(home=tmp_path / "home")
    assert in_home.experiments_file == tmp_path / "home" / "experiments.yaml"
