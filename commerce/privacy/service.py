"""What the API and the CLI call: export and erasure of a user, with the access rule (the
user themself or an admin) and the configured Redis, warehouse and media storage."""

from __future__ import annotations

from typing import Any

import redis

from commerce.auth import Principal
from commerce.errors import Forbidden
from commerce.privacy import erasure, export
from shopflow import embedded
from shopflow.config import get_settings


def _check(principal: Principal, user_id: str) -> None:
    if not (principal.user_id == user_id or principal.is_admin):
        raise Forbidden("only the user themself or an admin may do this", user_id=user_id)


def export_user(principal: Principal, user_id: str) -> dict[str, Any]:
    _check(principal, user_id)
    settings = get_settings()
    return export.export_user(
        user_id,
        _raw_redis(),
        settings.warehouse_path,
        settings.experiments_file,
    )


def erase_user(principal: Principal, user_id: str) -> dict[str, Any]:
    """Erase the user's data now, except landing and warehouse rows, which the
    ``privacy_erasure`` job removes (the returned request says ``pipeline_pending``)."""
    _check(principal, user_id)
    return erasure.erase(user_id, principal.user_id, _raw_redis())


def _raw_redis() -> redis.Redis | None:
    """A client returning bytes (some values are packed binary), or None when no Redis can
    be reached or started (the export says so; an erasure re-run finishes the step)."""
    try:
        return redis.Redis.from_url(embedded.ensure_redis(get_settings()))
    except (embedded.ServiceError, OSError):
        return None
