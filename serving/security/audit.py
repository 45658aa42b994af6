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
from starlette.types import ASGIApp, Receive, Scope, Send

from commerce import audit
from serving.security import identity
from serving.sent_status import SentStatus
from shopflow.config import get_settings

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PERSONAL_READS = ("/api/users/", "/api/admin/")
"""Route prefixes whose reads are audited for services too (exports, the audit log)."""
READS_BY_POST = frozenset({"/api/features/evaluate"})
"""POST routes that only read (a body too large for a query string): routine like a GET."""

WRITE_FAILED = Counter("shopflow_audit_write_failures", "Audit entries that could not be written.")
MAX_GROUP = 500
"""Entries per transaction at most."""


class AuditWriter:
    """Group commit: ``write`` queues an entry and returns once it is committed; one task
    commits whatever has queued meanwhile in a single transaction (a group that fails is
    retried entry by entry, so one bad entry fails alone)."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url
        self._queued: list[tuple[audit.Fields, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._commit_forever(), name="audit-writer")

    async def write(self, entry: audit.Fields) -> None:
        if self._task is None or self._task.done() or self._closing:  # write alone
            await asyncio.to_thread(audit.record, **entry, url=self.url)
            return
        done = asyncio.get_running_loop().create_future()
        self._queued.append((entry, done))
        self._wake.set()
        await done

    async def aclose(self) -> None:
        """Commit what is queued, then stop (entries written meanwhile are written alone)."""
        if self._task is None:
            return
        self._closing = True
        self._wake.set()
        await self._task

    async def _commit_forever(self) -> None:
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            await self._commit_queued()

    async def _commit_queued(self) -> None:
        while self._queued:
            group, self._queued = self._queued[:MAX_GROUP], self._queued[MAX_GROUP:]
            try:
                await asyncio.to_thread(audit.record_many, [e for e, _ in group], self.url)
            except Exception:  # noqa: BLE001 - retried one by one below, each failing alone
                await self._commit_one_by_one(group)
            else:
                for _, done in group:
                    if not done.done():
                        done.set_result(None)

    async def _commit_one_by_one(
        self, group: list[tuple[audit.Fields, asyncio.Future[None]]]
    ) -> None:
        for entry, done in group:
            try:
                await asyncio.to_thread(audit.record, **entry, url=self.url)
            except Exception as exc:  # noqa: BLE001 - handed to the request that waits
                if not done.done():
                    done.set_exception(exc)
            else:
                if not done.done():
                    done.set_result(None)


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
        sent = SentStatus(send)
        try:
            await self.app(scope, receive, sent)
        finally:
            await _record(scope, caller, sent.status)


async def _record(scope: Scope, caller: identity.Caller, status: int) -> None:
    """The entry of an admin's or a service's request (a secret key's too); none for others."""
    principal = identity.resolved(scope)
    if principal is None or not (principal.is_admin or principal.is_service):
        return
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    if not principal.is_admin and _routine_read(scope["method"], route, status):
        return
    entry = audit.Fields(
        actor_id=principal.user_id,
        actor_kind="admin" if principal.is_admin else "service",
        action=f"{scope['method']} {route}",
        status=status,
        target_ids={k: str(v) for k, v in scope.get("path_params", {}).items()},
        client_ip=caller.ip,
        user_agent=caller.user_agent,
    )
    try:
        await _writer(scope).write(entry)
    except Exception:
        WRITE_FAILED.inc()
        log.exception("audit entry not written for %s %s", scope["method"], route)


def _writer(scope: Scope) -> AuditWriter:
    """The app's writer (``serving.clients.Clients.audit``); before the lifespan made it, one
    that writes each entry alone."""
    clients = getattr(scope["app"].state, "clients", None) if "app" in scope else None
    writer: AuditWriter | None = getattr(clients, "audit", None)
    return writer if writer is not None else _UNGROUPED


_UNGROUPED = AuditWriter()


def _routine_read(method: str, route: str, status: int) -> bool:
    """A read that succeeded (or failed on its own terms) outside personal-data routes."""
    reads = method in SAFE_METHODS or (method == "POST" and route in READS_BY_POST)
    return reads and status not in (401, 403) and not route.startswith(PERSONAL_READS)
