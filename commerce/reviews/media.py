"""Uploaded review media: validate, store (behind
``commerce.reviews.media_store.MediaStorage``), record."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce.db import session_scope
from commerce.db.models.reviews import Review, ReviewMedia, ReviewStatus
from commerce.errors import NotFound
from commerce.reviews import cache as reviews_cache
from commerce.reviews import media_store as media_lib
from commerce.reviews.listing import media_json


def upload(
    session: Session,
    user_id: str,
    filename: str | None,
    data: bytes,
    storage: media_lib.MediaStorage | None = None,
) -> dict[str, Any]:
    """Validate the bytes, store the clean file and its thumbnail, record the media row.
    Nothing is stored when validation fails."""
    processed = media_lib.process(filename, data)
    storage = storage or media_lib.default_storage()
    media_id = uuid.uuid4().hex
    key, thumb_key = media_lib.storage_keys(media_id, processed.content_type)
    storage.put(key, processed.data, processed.content_type)
    if processed.thumbnail is not None:
        storage.put(thumb_key, processed.thumbnail, "image/jpeg")
    row = ReviewMedia(
        id=media_id,
        user_id=user_id,
        kind=processed.kind,
        content_type=processed.content_type,
        size_bytes=len(processed.data),
        storage_key=key,
        thumbnail_key=thumb_key if processed.thumbnail is not None else None,
        width=processed.width,
        height=processed.height,
        duration_s=processed.duration_s,
    )
    session.add(row)
    session.flush()
    return media_json(row)


def read(
    session: Session,
    media_id: str,
    viewer_id: str | None,
    is_admin: bool,
    thumbnail: bool = False,
    storage: media_lib.MediaStorage | None = None,
) -> tuple[bytes, str]:
    """(bytes, content type) of a media file: public once its review is approved, else only
    to its uploader and admins."""
    row = session.get(ReviewMedia, media_id)
    if row is None:
        raise NotFound(f"media {media_id!r} not found")
    review = session.get(Review, row.review_id) if row.review_id else None
    public = review is not None and review.status == ReviewStatus.APPROVED
    if not (public or is_admin or viewer_id == row.user_id):
        raise NotFound(f"media {media_id!r} not found")
    storage = storage or media_lib.default_storage()
    if thumbnail:
        if row.thumbnail_key is None:
            raise NotFound("this media has no thumbnail")
        return storage.get(row.thumbnail_key), "image/jpeg"
    return storage.get(row.storage_key), row.content_type


def discard_for(
    session: Session, review: Review, storage: media_lib.MediaStorage | None = None
) -> list[str]:
    """Delete a removed review's media rows now and their stored files and thumbnails once
    the transaction commits (a rollback keeps both). Returns the storage keys to delete."""
    rows = session.scalars(select(ReviewMedia).where(ReviewMedia.review_id == review.id)).all()
    stored = [key for m in rows for key in (m.storage_key, m.thumbnail_key) if key]
    for row in rows:
        session.delete(row)
    review.has_media = False
    if stored:
        storage = storage or media_lib.default_storage()

        def delete_files() -> None:
            for key in stored:
                storage.delete(key)

        reviews_cache.after_commit_call(session, delete_files)
    return stored


# ---- one transaction each: what the media API calls -------------------------------------------
def save_upload(user_id: str, filename: str | None, data: bytes) -> dict[str, Any]:
    """``upload`` in a transaction of its own."""
    with session_scope() as session:
        return upload(session, user_id, filename, data)


def read_for_viewer(
    media_id: str, viewer_id: str | None, is_admin: bool, thumbnail: bool
) -> tuple[bytes, str]:
    """``read`` in a transaction of its own."""
    with session_scope() as session:
        return read(session, media_id, viewer_id, is_admin, thumbnail)
