"""Media validation from the bytes, EXIF stripping, thumbnails, storage; upload over HTTP."""

from __future__ import annotations

import io
import zipfile

import pytest
from PIL import Image

from commerce.errors import Invalid
from commerce.reviews import media_store as media
from shopflow.config import Settings
from tests.serving.test_reviews_fixtures import (
    ADMIN,
    auth,
    jpeg_bytes,
    mp4_bytes,
    png_bytes,
    put_product,
)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path)


def test_png_renamed_mp4_is_refused(settings) -> None:
    with pytest.raises(Invalid, match="image/png but the name ends in .mp4"):
        media.process("clip.mp4", png_bytes(), settings)


@pytest.mark.parametrize(
    "name",
    ["../../x", "../../x.png", "a/b.png", "..png", ".hidden.png", "x\x00.png", "C:\\x.png", ""],
)
def test_hostile_names_are_refused(settings, name) -> None:
    with pytest.raises(Invalid):
        media.process(name, png_bytes(), settings)


def test_oversized_file_is_refused_before_decoding(settings) -> None:
    with pytest.raises(media.TooLarge):
        media.process("big.png", png_bytes() + b"\0" * (50 * 1024 * 1024), settings)


def test_polyglots_are_refused(settings) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("evil.php", "<?php system($_GET['c']); ?>")
    with pytest.raises(Invalid):
        media.process("x.png", png_bytes() + archive.getvalue(), settings)  # PNG + ZIP
    img = Image.new("RGB", (8, 8))
    out = io.BytesIO()
    img.save(out, format="PNG", pnginfo=_text_chunk("<script>alert(1)</script>"))
    with pytest.raises(Invalid, match="second embedded format"):
        media.process("x.png", out.getvalue(), settings)  # PNG carrying HTML
    with pytest.raises(Invalid):
        media.process("x.mp4", mp4_bytes() + b"<html><body>hi</body></html>", settings)


def _text_chunk(text: str):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", text)
    return info


def test_images_are_re_encoded_without_exif_and_get_thumbnails(settings) -> None:
    original = jpeg_bytes(size=(800, 600))
    assert b"SecretCam" in original
    result = media.process("photo.JPG", original, settings)
    assert result.kind == "image" and result.content_type == "image/jpeg"
    assert b"SecretCam" not in result.data
    with Image.open(io.BytesIO(result.data)) as img:
        assert not img.getexif()
        assert img.size == (600, 800)  # the EXIF orientation was applied before stripping
    with Image.open(io.BytesIO(result.thumbnail)) as thumb:
        assert max(thumb.size) <= settings.media_thumbnail_px and thumb.format == "JPEG"
    png = media.process("pic.png", png_bytes(exif=True), settings)
    assert b"SecretCam" not in png.data


def test_videos_are_checked_structurally(settings) -> None:
    ok = media.process("clip.mp4", mp4_bytes(5), settings)
    assert ok.kind == "video" and ok.duration_s == 5 and ok.thumbnail is None
    with pytest.raises(Invalid, match="seconds"):
        media.process("long.mp4", mp4_bytes(600), settings)
    with pytest.raises(Invalid):
        media.process("cut.mp4", mp4_bytes()[:-100], settings)  # truncated box
    with pytest.raises(Invalid):
        media.process("x.mp4", b"\x00\x00\x00\x18ftypabcd" + b"\0" * 40, settings)
    with pytest.raises(Invalid, match="unsupported"):
        media.process("a.txt", b"hello world", settings)
    with pytest.raises(Invalid, match="decoded"):
        media.process("bad.png", png_bytes()[:40] + png_bytes()[-12:], settings)


def test_local_storage_keeps_keys_inside_its_root(tmp_path) -> None:
    store = media.LocalMediaStorage(tmp_path / "media")
    store.put("ab/file.png", b"data", "image/png")
    assert store.get("ab/file.png") == b"data" and store.exists("ab/file.png")
    with pytest.raises(Invalid):
        store.put("../escape.png", b"x", "image/png")
    store.delete("ab/file.png")
    assert not store.exists("ab/file.png")


def test_upload_attach_and_serve_over_http(api_client) -> None:
    put_product(api_client, "p1")
    up = api_client.post(
        "/api/media", files={"file": ("shoe.jpg", jpeg_bytes(), "image/jpeg")}, headers=auth("u1")
    )
    assert up.status_code == 201, up.text
    media_id = up.json()["id"]
    # Not public until the review carrying it is approved.
    assert api_client.get(f"/api/media/{media_id}").status_code == 404
    assert api_client.get(f"/api/media/{media_id}", headers=auth("u1")).status_code == 200
    stolen = api_client.post(
        "/api/products/p1/reviews", json={"rating": 5, "media_ids": [media_id]}, headers=auth("u2")
    )
    assert stolen.status_code == 422
    review = api_client.post(
        "/api/products/p1/reviews",
        json={"rating": 5, "body": "See the photo", "media_ids": [media_id]},
        headers=auth("u1"),
    ).json()
    api_client.post(f"/api/admin/reviews/{review['id']}/approve", headers=ADMIN)
    served = api_client.get(f"/api/media/{media_id}")
    assert served.headers["content-type"] == "image/jpeg" and b"SecretCam" not in served.content
    thumb = api_client.get(f"/api/media/{media_id}/thumbnail")
    assert thumb.status_code == 200 and thumb.content.startswith(b"\xff\xd8\xff")
    listed = api_client.get("/api/products/p1/reviews?with_media=true").json()["items"]
    assert [m["id"] for m in listed[0]["media"]] == [media_id]


def test_bad_uploads_are_refused_cleanly_over_http(api_client) -> None:
    me = auth("u1")
    cases = [
        (("clip.mp4", png_bytes(), "video/mp4"), 422),
        (("../../x", png_bytes(), "image/png"), 422),
        (("huge.mp4", b"\0" * (50 * 1024 * 1024), "video/mp4"), 413),
    ]
    for file, status in cases:
        response = api_client.post("/api/media", files={"file": file}, headers=me)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert api_client.post("/api/media", content=b"raw", headers=me).status_code == 422
    assert api_client.post("/api/media", files={"file": ("a.png", png_bytes())}).status_code == 401
    stored = list((api_client.app.state.clients.settings.media_dir).rglob("*"))
    assert [p for p in stored if p.is_file()] == []  # nothing refused was kept
