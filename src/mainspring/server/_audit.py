"""The audit log: every call that changes something, by a caller the server checked (``--auth``).

Recorded at the edges, where the caller and the answer are known (``_http``, ``_channel``): the operations
that are not reads and not a worker's task traffic (polls and completions are the engine's own protocol,
thousands a second, and each is already in a run's history), plus key management and UI logins. An entry
says who (the key's name and id, or the token's subject), how they proved it, what (the operation and the
workflow id or key id it named), when, from where (the peer address and the request id) and how it ended
(the HTTP status).

Entries are kept in memory and appended in one transaction every ``FLUSH`` seconds (and at stop), so a
burst of starts costs the store one more commit per interval, not one per start; a server killed with
SIGKILL loses at most that interval's entries. Admins read the log (``GET /api/v1/audit``, ``mainspring
operator audit list``): an admin of a namespace its entries, an admin of every namespace all of them.
With auth off nothing is recorded (every caller is anonymous) and nothing is paid.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from ..api.roles import ALL_NAMESPACES, Access, Principal, Role
from ..storage import AuditEntry, StorageError, Store
from ._execution import iso
from ._logs import REQUEST_ID

if TYPE_CHECKING:
    from ._operations import Operation

__all__ = ["FLUSH", "AuditLog", "audited", "entry_view"]

log = logging.getLogger("mainspring.server")

#: Seconds between two appends of the entries gathered.
FLUSH = 0.2
#: Entries kept while the store refuses them (a full disk): beyond, the oldest are dropped (and counted).
_HELD = 100_000


def audited(op: Operation) -> bool:
    """Whether calls of ``op`` are recorded: those that change something, but a worker's task traffic."""
    if op.access is Access.WORK:
        return False
    if op.http is not None:
        return op.http.method != "GET"
    return op.access is not Access.READ


def _target(body: Any) -> str:
    for name in ("workflow_id", "key_id", "name", "job_id"):
        value = body.get(name) if isinstance(body, dict) else getattr(body, name, None)
        if isinstance(value, str):
            return value
    return ""


def entry_view(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": iso(e.at),
        "namespace": e.namespace,
        "principal": e.principal,
        "method": e.method,
        "operation": e.operation,
        "target": e.target,
        "peer": e.peer,
        "status": e.status,
        "request_id": e.request_id,
    }


class AuditLog:
    """Entries gathered in memory and appended to the store in batches."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._held: list[AuditEntry] = []
        self._flusher: asyncio.Task[None] | None = None
        self.dropped = 0

    def record(
        self,
        principal: Principal | None,
        operation: str,
        namespace: str,
        body: Any,
        status: int,
        peer: str | None,
        target: str | None = None,
    ) -> None:
        """Note one call (answered ``status``); written within ``FLUSH`` seconds."""
        self._held.append(
            AuditEntry(
                at=time.time(),
                namespace=namespace,
                principal=principal.name if principal is not None else "anonymous",
                method=principal.method if principal is not None else "none",
                operation=operation,
                target=target if target is not None else _target(body),
                peer=peer or "",
                status=status,
                request_id=REQUEST_ID.get() or "",
            )
        )
        if len(self._held) > _HELD:
            drop = len(self._held) - _HELD
            del self._held[:drop]
            self.dropped += drop
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon(), name="mainspring-audit")

    async def _flush_soon(self) -> None:
        try:
            await asyncio.sleep(FLUSH)
            await self.flush()
        finally:
            self._flusher = None
            if self._held:  # not written (the store refused): try again later
                self._flusher = asyncio.get_running_loop().create_task(self._flush_soon(), name="mainspring-audit")

    async def flush(self) -> None:
        batch, self._held = self._held, []
        if not batch:
            return
        try:
            await self.store.append_audit(batch)
        except StorageError as e:
            self._held[:0] = batch
            log.warning("could not write %d audit entries (kept, to try again): %s", len(batch), e)

    async def stop(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
            self._flusher = None
        await self.flush()

    async def read(
        self, by: Principal | None, namespace: str | None, before: int | None, limit: int
    ) -> list[AuditEntry]:
        """Entries ``by`` may read (an admin's namespaces; every one for an admin of every namespace), newest
        first; of ``namespace`` only, if given. Entries not written yet are written first."""
        await self.flush()
        if by is None or by.grants.get(ALL_NAMESPACES) is Role.ADMIN:
            allowed: list[str] | None = None
        else:
            allowed = [ns for ns, role in by.grants.items() if role is Role.ADMIN and ns != ALL_NAMESPACES]
        if namespace is not None:
            if allowed is not None and namespace not in allowed:
                return []
            allowed = [namespace]
        return await self.store.read_audit(allowed, before, limit)
