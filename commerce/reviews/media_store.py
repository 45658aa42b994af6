"""Review media: validation from the file's own bytes, EXIF stripping, thumbnails, storage.

The type comes from magic numbers and a full decode (Pillow ``verify`` then a re-encode for
images; the MP4 box structure for videos), never from the name or the Content-Type header.
The name must be a plain file name whose extension agrees with the detected type. Files
carrying a second format (a ZIP, PDF, HTML or script tucked inside or after the image) are
refused. Stored keys are generated here; the client's file name never becomes a path.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import io
import os
import struct
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from PIL import Image, ImageOps

from commerce.errors import Invalid, TooLarge
from shopflow.config import Settings, get_settings


class MediaStorage(Protocol):
    """Where media bytes live. The local implementation writes under the data dir; an S3
    bucket implements the same four calls (put_object/get_object/delete_object/head)."""

    def put(self, key: str, data: bytes, content_type: str) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...


class LocalMediaStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise Invalid("invalid media key")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()


class FsspecMediaStorage:
    """Media on any fsspec URL (``s3://bucket/prefix``, ``gcs://...``, ``memory://...``); a
    put is one whole-object write, so readers never see half a file."""

    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        import fsspec  # only when configured

        self.fs, root = fsspec.core.url_to_fs(url, **(options or {}))
        self.root = root.rstrip("/")

    def _path(self, key: str) -> str:
        if any(part in ("..", ".", "") for part in key.split("/")):
            raise Invalid("invalid media key")
        return f"{self.root}/{key}"

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.fs.pipe_file(self._path(key), data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        data: bytes = self.fs.cat_file(self._path(key))
        return data

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(key))

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))


def default_storage(settings: Settings | None = None) -> MediaStorage:
    """``SHOPFLOW_MEDIA_URL`` (any fsspec URL) when set, else ``$SHOPFLOW_HOME/media``."""
    settings = settings or get_settings()
    if settings.media_url:
        return FsspecMediaStorage(settings.media_url, settings.media_storage_options)
    return LocalMediaStorage(settings.media_dir)


# ---- type detection -----------------------------------------------------------------------
IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
EXTENSIONS = {
    "image/png": {".png"},
    "image/jpeg": {".jpg", ".jpeg"},
    "image/gif": {".gif"},
    "image/webp": {".webp"},
    "video/mp4": {".mp4", ".m4v"},
    "video/quicktime": {".mov"},
    "video/webm": {".webm"},
}
#: Signatures of a second format hidden inside a media file (polyglots). Long enough not to
#: occur by chance in compressed data; formats appended after the media (ZIP, PHAR) are
#: caught by the end-marker and box-tiling checks instead.
FOREIGN_MARKERS = (b"%PDF-", b"<script", b"<?php", b"<html", b"<svg", b"<!doctype", b"<iframe")
MP4_BRANDS = {b"isom", b"iso2", b"mp41", b"mp42", b"avc1", b"M4V ", b"dash", b"qt  ", b"iso5"}
MP4_TOP_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"meta", b"moof"}
MP4_TOP_BOXES |= {b"mfra", b"styp", b"sidx", b"pdin"}


def sniff(data: bytes) -> str | None:
    """The MIME type the bytes are, by magic number."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/quicktime" if data[8:12] == b"qt  " else "video/mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return None


def check_filename(name: str | None) -> str:
    """A plain file name: no directories, traversal, control characters or hidden names."""
    if not name:
        raise Invalid("the upload needs a file name")
    bad = (
        len(name) > 200
        or any(ord(c) < 32 or c in '/\\:*?"<>|' for c in name)
        or name.startswith(".")
        or ".." in name
        or PurePosixPath(name).name != name
    )
    if bad:
        raise Invalid("file name must be a plain name without paths or special characters")
    if not PurePosixPath(name).suffix:
        raise Invalid("file name needs an extension")
    return name


@dataclass(frozen=True)
class Processed:
    kind: str  # image | video
    content_type: str
    data: bytes
    width: int | None
    height: int | None
    thumbnail: bytes | None
    duration_s: float | None = None


def process(filename: str | None, data: bytes, settings: Settings | None = None) -> Processed:
    """Validate an upload and return what to store. Raises Invalid or TooLarge."""
    settings = settings or get_settings()
    name = check_filename(filename)
    if not data:
        raise Invalid("the file is empty")
    limit = max(settings.media_max_image_bytes, settings.media_max_video_bytes)
    if len(data) > limit:
        raise TooLarge(f"file is larger than {limit} bytes", limit_bytes=limit)
    content_type = sniff(data)
    if content_type is None:
        raise Invalid("unsupported file type: only PNG, JPEG, GIF, WebP, MP4, MOV and WebM")
    ext = PurePosixPath(name).suffix.lower()
    if ext not in EXTENSIONS[content_type]:
        raise Invalid(f"file content is {content_type} but the name ends in {ext}")
    _refuse_polyglot(data)
    if content_type.startswith("image/"):
        if len(data) > settings.media_max_image_bytes:
            raise TooLarge(
                f"images are limited to {settings.media_max_image_bytes} bytes",
                limit_bytes=settings.media_max_image_bytes,
            )
        return _process_image(data, content_type, settings)
    if len(data) > settings.media_max_video_bytes:
        raise TooLarge(
            f"videos are limited to {settings.media_max_video_bytes} bytes",
            limit_bytes=settings.media_max_video_bytes,
        )
    duration = _check_video(data, content_type, settings)
    return Processed("video", content_type, data, None, None, None, duration)


def _refuse_polyglot(data: bytes) -> None:
    lowered = data.lower()
    for marker in FOREIGN_MARKERS:
        if marker.lower() in lowered:
            raise Invalid("file contains a second embedded format and is refused")


def _trailing_data(data: bytes, content_type: str) -> bool:
    if content_type == "image/png":
        end = data.rfind(b"IEND")
        return end < 0 or len(data) > end + 8
    if content_type == "image/jpeg":
        return not data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if content_type == "image/gif":
        return not data.endswith(b"\x3b")
    if content_type == "image/webp":
        return int.from_bytes(data[4:8], "little") + 8 != len(data)
    return False


_decode_slots: threading.BoundedSemaphore | None = None
_decode_slots_guard = threading.Lock()
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


@contextmanager
def _decode_slot(settings: Settings) -> Iterator[None]:
    """At most ``media_decode_concurrency`` images decoded at once in this process; after
    each, freed heap is handed back to the OS (glibc keeps large freed blocks otherwise, and
    one 12 Mpx decode would leave the process hundreds of MB bigger for good)."""
    global _decode_slots
    with _decode_slots_guard:
        if _decode_slots is None:
            _decode_slots = threading.BoundedSemaphore(settings.media_decode_concurrency)
    with _decode_slots:
        try:
            yield
        finally:
            if hasattr(_LIBC, "malloc_trim"):
                _LIBC.malloc_trim(0)


def _process_image(data: bytes, content_type: str, settings: Settings) -> Processed:
    if _trailing_data(data, content_type):
        raise Invalid("image has data after its end marker and is refused")
    try:
        with Image.open(io.BytesIO(data)) as probe:  # reads the header only
            pixels = probe.width * probe.height
            if pixels > settings.media_max_image_pixels:
                raise Invalid(
                    f"image is {probe.width}x{probe.height}; at most "
                    f"{settings.media_max_image_pixels} pixels are accepted"
                )
            probe.verify()
        with _decode_slot(settings):
            return _decode_image(data, content_type, settings)
    except Invalid:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise Invalid(f"image could not be decoded: {exc}") from exc


def _decode_image(data: bytes, content_type: str, settings: Settings) -> Processed:
    with Image.open(io.BytesIO(data)) as img:
        fmt = img.format or ""
        if IMAGE_TYPES.get(fmt) != content_type:
            raise Invalid("image header and content disagree")
        img.load()
        clean = ImageOps.exif_transpose(img)
        stored = _encode(clean, fmt)
        thumb = clean.copy()
        thumb.thumbnail((settings.media_thumbnail_px, settings.media_thumbnail_px))
        thumbnail = _encode(thumb.convert("RGB"), "JPEG")
        return Processed("image", content_type, stored, clean.width, clean.height, thumbnail, None)


def _encode(img: Image.Image, fmt: str) -> bytes:
    """Re-encode pixels only: EXIF, XMP, ICC text and comments are dropped."""
    out = io.BytesIO()
    if fmt == "JPEG" and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    params: dict[str, object] = {"quality": 88} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "GIF":
        params["save_all"] = False
    img.info.clear()
    img.save(out, format=fmt, exif=b"", **params)
    return out.getvalue()


def _check_video(data: bytes, content_type: str, settings: Settings) -> float | None:
    if content_type == "video/webm":
        return None
    boxes = _mp4_boxes(data, 0, len(data))
    if not boxes or boxes[0][0] != b"ftyp" or data[8:12] not in MP4_BRANDS:
        raise Invalid("not a well-formed MP4/MOV file")
    if any(kind not in MP4_TOP_BOXES for kind, _, _ in boxes):
        raise Invalid("MP4 file has unexpected top-level data")
    moov = next(((s, e) for kind, s, e in boxes if kind == b"moov"), None)
    if moov is None:
        raise Invalid("MP4 file has no movie header")
    duration = _mvhd_duration(data, *moov)
    if duration is not None and duration > settings.media_max_video_seconds:
        raise Invalid(f"videos are limited to {settings.media_max_video_seconds:g} seconds")
    return duration


def _mp4_boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the boxes tiling data[start:end] exactly."""
    boxes = []
    pos = start
    while pos < end:
        if end - pos < 8:
            raise Invalid("truncated MP4 box")
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            if end - pos < 16:
                raise Invalid("truncated MP4 box")
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise Invalid("malformed MP4 box sizes")
        boxes.append((kind, pos + header, pos + size))
        pos += size
    return boxes


def _mvhd_duration(data: bytes, start: int, end: int) -> float | None:
    for kind, s, e in _mp4_boxes(data, start, end):
        if kind != b"mvhd" or e - s < 20:
            continue
        if data[s] == 1 and e - s >= 32:
            timescale, duration = struct.unpack(">IQ", data[s + 20 : s + 32])
        else:
            timescale, duration = struct.unpack(">II", data[s + 12 : s + 20])
        return duration / timescale if timescale else None
    return None


def storage_keys(media_id: str, content_type: str) -> tuple[str, str]:
    """(file key, thumbnail key) for a media id; names come from us, never the client."""
    ext = sorted(EXTENSIONS[content_type])[0]
    return f"{media_id[:2]}/{media_id}{ext}", f"{media_id[:2]}/{media_id}.thumb.jpg"
