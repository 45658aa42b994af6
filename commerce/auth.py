"""Bearer JWTs: ``sub`` is the user id, ``roles`` a list of customer/admin/service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import jwt

from commerce.errors import Unauthorized
from shopflow.config import Settings, get_settings


class Role(StrEnum):
    customer = "customer"
    admin = "admin"
    service = "service"


@dataclass(frozen=True)
class Principal:
    user_id: str
    roles: frozenset[Role]

    @property
    def is_admin(self) -> bool:
        return Role.admin in self.roles

    @property
    def is_service(self) -> bool:
        return Role.service in self.roles

    def can_access(self, owner_id: str) -> bool:
        """Customers reach only their own resources; admins and services reach all."""
        return self.user_id == owner_id or self.is_admin or self.is_service


def mint_token(
    user_id: str,
    roles: list[Role] | list[str] | None = None,
    ttl: timedelta = timedelta(hours=12),
    settings: Settings | None = None,
) -> str:
    settings = settings or get_settings()
    now = datetime.now(UTC)
    claims = {
        "sub": user_id,
        "roles": [Role(r).value for r in (roles or [Role.customer])],
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithm)


def decode_token(token: str, settings: Settings | None = None) -> Principal:
    settings = settings or get_settings()
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=[settings.jwt_algorithm],
            options={"require": ["sub", "exp"]},
        )
        roles = frozenset(Role(r) for r in claims.get("roles", []))
    except (jwt.PyJWTError, ValueError) as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise Unauthorized("invalid token: empty subject")
    return Principal(user_id=claims["sub"], roles=roles or frozenset({Role.customer}))
