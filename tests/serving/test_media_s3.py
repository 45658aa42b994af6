"""Review media on an S3 URL (``SHOPFLOW_MEDIA_URL``), against a real S3 server
(``moto_server``, the store the embedded broker already uses) over the S3 protocol."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import s3fs

from commerce.errors import Invalid
from commerce.reviews import media_store
from shopflow import embedded
from shopflow.config import Settings

BUCKET = "shop-media"


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(home=tmp_path_factory.mktemp("s3-home"))
    url = embedded.start_kafka_store(settings).url  # moto_server in its own process
    yield url
    embedded.stop_all(settings)


@pytest.fixture
def s3_settings(s3_endpoint: str, tmp_path: Path) -> Settings:
    options = {"key": "test", "secret": "test", "endpoint_url": s3_endpoint}
    fs = s3fs.S3FileSystem(**options)
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    return Settings(
        home=tmp_path,
        media_url=f"s3://{BUCKET}/reviews/",
        media_storage_options={**options, "client_kwargs": {"region_name": "us-east-1"}},
    )


def test_media_round_trip_through_s3(s3_settings: Settings) -> None:
    storage = media_store.default_storage(s3_settings)
    assert isinstance(storage, media_store.FsspecMediaStorage)
    storage.put("m1/original.png", b"\x89PNG bytes", "image/png")
    assert storage.exists("m1/original.png")
    assert storage.get("m1/original.png") == b"\x89PNG bytes"
    # the object is really in the bucket, under the prefix, with its content type
    fs = s3fs.S3FileSystem(**s3_settings.media_storage_options)
    assert fs.cat_file(f"{BUCKET}/reviews/m1/original.png") == b"\x89PNG bytes"
    assert fs.info(f"{BUCKET}/reviews/m1/original.png")["ContentType"] == "image/png"
    storage.delete("m1/original.png")
    assert not storage.exists("m1/original.png")
    storage.delete("m1/original.png")  # deleting twice is fine
    assert not list((s3_settings.home_dir).rglob("*.png"))  # nothing went to local disk


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/./b", ""])
def test_s3_media_refuses_keys_outside_the_prefix(s3_settings: Settings, key: str) -> None:
    with pytest.raises(Invalid):
        media_store.default_storage(s3_settings).put(key, b"x", "image/png")


def test_without_a_media_url_media_stay_under_the_home(tmp_path: Path) -> None:
    storage = media_store.default_storage(Settings(home=tmp_path))
    assert isinstance(storage, media_store.LocalMediaStorage)
