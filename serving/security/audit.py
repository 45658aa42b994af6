"""Writes an audit entry (``commerce.audit.record``) for every request made by an admin, and
for a service's (a secret key's) writes, refusals and reads of personal data; a service's
routine reads (a storefront backend fetching recommendations at thousands per second) are
not written. The entry is written once the response status is known: who (principal id and
kind), what (method, route template, path parameters as target ids), the outcome status, and
from where (client IP, user agent). A failed write is logged and counted, never turned into
an error of the request it describes (the response has already been sent)."""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from commerce import audit
from serving.security import identity
from shopflow.config import get_settings

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PERSONAL_READS = ("/api/users/", "/api/admin/")
"""Route prefixes whose reads are audited for services too (exports, the audit log)."""
READS_BY_POST = frozenset({"/api/features/evaluate"})
"""POST routes that only read (a body too large for a query string): routine like a GET."""

WRITE_FAILED = Counter("shopflow_audit_write_failures", "Audit entries that could not be written.")


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        caller = identity.caller(scope, get_settings())
        jwt = caller.principal
        if not caller.credential or (jwt is not None and not (jwt.is_admin or jwt.is_service)):
            await self.app(scope, receive, send)  # anonymous, or a customer's token
            return
        status = 500  # what the client sees if the app raises before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            await _record(scope, caller, status)


async def _record(scope: Scope, caller: identity.Caller, status: int) -> None:
    """The entry of an admin's or a service's request (a secret key's too); none for others."""
    principal = identity.resolved(scope)
    if principal is None or not (principal.is_admin or principal.is_service):
        return
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    if not principal.is_admin and _routine_read(scope["method"], route, status):
        return
    try:
        await asyncio.to_thread(
            audit.record,
            actor_id=principal.user_id,
            actor_kind="admin" if principal.is_admin else "service",
            action=f"{scope['method']} {route}",
            status=status,
            target_ids={k: str(v) for k, v in scope.get("path_params", {}).items()},
            client_ip=caller.ip,
            user_agent=caller.user_agent,
        )
    except Exception:
        WRITE_FAILED.inc()
        log.exception("audit entry not written for %s %s", scope["method"], route)


def _routine_read(method: str, route: str, status: int) -> bool:
    """A read that succeeded (or failed on its own terms) outside personal-data routes."""
    reads = method in SAFE_METHODS or (method == "POST" and route in READS_BY_POST)
    return reads and status not in (401, 403) and not route.startswith(PERSONAL_READS)
