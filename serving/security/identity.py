"""Who is calling: the verified principal of a bearer JWT, else the client IP.

Resolved once per request and kept in the ASGI scope, so the rate limiter, the audit log and
the security headers agree. The client IP is the socket peer, or, when the peer is a trusted
proxy (``Settings.trusted_proxies``), the nearest untrusted address of X-Forwarded-For."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from starlette.types import Scope

from commerce.auth import Principal, verify_token
from commerce.errors import Unauthorized
from shopflow.config import Settings

SCOPE_KEY = "shopflow.caller"
RESOLVED_KEY = "shopflow.principal"
"""Where the route's own credential check leaves the principal it resolved (API keys too)."""
CREDENTIAL_HEADERS = (b"authorization", b"x-api-key")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Caller:
    ip: str
    principal: Principal | None
    credential: bool
    """A credential was sent (valid or not)."""
    user_agent: str | None

    @property
    def key(self) -> str:
        """The rate limit identity: the principal's id, else the client IP."""
        return f"user:{self.principal.user_id}" if self.principal else f"ip:{self.ip}"

    @property
    def unverified_credential(self) -> bool:
        """A credential this layer could not verify (a bad JWT, or an API key)."""
        return self.credential and self.principal is None


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(t, strict=False) for t in trusted)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip(peer: str, forwarded_for: str | None, trusted: tuple[str, ...]) -> str:
    """The peer, or behind trusted proxies the rightmost X-Forwarded-For hop not trusted."""
    networks = _networks(trusted)
    if not forwarded_for or not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


def _principal(authorization: str | None, settings: Settings) -> Principal | None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        return verify_token(token.strip(), settings)
    except Unauthorized:
        return None


def caller(scope: Scope, settings: Settings) -> Caller:
    """The scope's caller (computed on first use, then read back from the scope)."""
    found: Caller | None = scope.get(SCOPE_KEY)
    if found is not None:
        return found
    headers = dict(scope.get("headers") or ())
    peer = (scope.get("client") or ("unknown", 0))[0]
    forwarded = headers.get(b"x-forwarded-for")
    authorization = headers.get(b"authorization")
    agent = headers.get(b"user-agent")
    found = Caller(
        ip=client_ip(peer, forwarded.decode("latin-1") if forwarded else None,
                     settings.trusted_proxies),
        principal=_principal(authorization.decode("latin-1") if authorization else None, settings),
        credential=any(name in headers for name in CREDENTIAL_HEADERS),
        user_agent=agent.decode("latin-1")[:512] if agent else None,
    )  # fmt: skip
    scope[SCOPE_KEY] = found
    return found


def remember(scope: Scope, principal: Principal | None) -> None:
    """Keep the principal the route resolved (an API key needs the database, so only the
    route's dependency knows it); the audit log reads it once the response is sent."""
    if principal is not None:
        scope[RESOLVED_KEY] = principal


def resolved(scope: Scope) -> Principal | None:
    """The route's principal if it resolved one, else the one a bearer JWT names."""
    found: Principal | None = scope.get(RESOLVED_KEY)
    if found is not None:
        return found
    known: Caller | None = scope.get(SCOPE_KEY)
    return known.principal if known is not None else None
