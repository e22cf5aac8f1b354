"""Batch operations: one cancel, terminate, signal or reset applied by the server to every run a list filter
selects (``client.terminate_workflows(query=...)``), as a durable job that goes at a bounded rate and resumes
after a server restart (``server.features.batch``). Temporal's Python SDK has no such methods (its CLI starts
batch jobs through the raw service); these keep to its shapes: a handle to the job, ``describe`` and a wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ..api.batch import BatchJobState, BatchOperation
from ..converter import PayloadError as _PayloadError
from ..converter import encode as _encode
from ..errors import InvalidArgumentError as _InvalidArgumentError
from ._handle import message_name as _message_name

if TYPE_CHECKING:
    from ..workflow._handlers import SignalMethod

__all__ = ["BatchClient", "BatchJobDescription", "BatchJobHandle", "BatchJobState", "BatchOperation"]

A = TypeVar("A")
S = TypeVar("S")

_Call = Callable[..., Awaitable[Any]]


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


@dataclass(frozen=True)
class BatchJobDescription:
    """A batch job as the server describes it: what it does and how far it got."""

    job_id: str
    operation: BatchOperation
    #: The list filter that selects its runs.
    query: str
    state: BatchJobState
    #: The reason given for the operation (recorded in each run's history).
    reason: str
    #: At most this many runs a second.
    rps: float
    #: How many runs the query selected when the job started (an estimate: runs change meanwhile).
    matched: int
    #: Runs the operation was applied to.
    done: int
    #: Runs left alone: closed by then, or asked already.
    skipped: int
    #: Runs the operation was refused for (the server's log says why).
    failed: int
    started_at: datetime
    closed_at: datetime | None
    #: Who started it.
    identity: str
    #: Why it ended as it did (who terminated it, what failed); empty while it runs.
    note: str

    @property
    def running(self) -> bool:
        """Whether the job is still going."""
        return self.state is BatchJobState.RUNNING

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchJobDescription:
        """The description from the server's JSON answer."""
        return cls(
            job_id=data["job_id"],
            operation=BatchOperation(data["operation"]),
            query=data["query"],
            state=BatchJobState(data["state"]),
            reason=data.get("reason", ""),
            rps=float(data["rps"]),
            matched=int(data["matched"]),
            done=int(data["done"]),
            skipped=int(data["skipped"]),
            failed=int(data["failed"]),
            started_at=datetime.fromtimestamp(data["started_at"], UTC),
            closed_at=_time(data.get("closed_at")),
            identity=data.get("identity", ""),
            note=data.get("note", ""),
        )


class BatchJobHandle:
    """A batch job on the server, by its id."""

    def __init__(self, call: _Call, job_id: str) -> None:
        self._call = call
        #: The job's id (``mainspring batch describe --job-id``).
        self.job_id = job_id

    async def describe(self) -> BatchJobDescription:
        """Its state and progress; ``NotFoundError`` if the namespace has no such job."""
        data = await self._call("GET", "/batches/describe", params={"job_id": self.job_id})
        return BatchJobDescription.from_json(data)

    async def wait(
        self, *, timeout: timedelta | None = None, poll_interval: timedelta = timedelta(milliseconds=200)
    ) -> BatchJobDescription:
        """Wait until the job has ended (completed, failed or terminated) and describe it; raises
        the built-in ``TimeoutError`` if it is still running after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout.total_seconds()
        while True:
            description = await self.describe()
            if not description.running:
                return description
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"batch job {self.job_id!r} is still running after {timeout}")
            await asyncio.sleep(poll_interval.total_seconds())

    async def terminate(self, *, reason: str = "") -> BatchJobDescription:
        """Stop the job: the runs it dealt with stay so, the others are left alone. ``InvalidArgumentError``
        (code ``batch_job_not_running``) if it has ended already."""
        data = await self._call("POST", "/batches/terminate", body={"job_id": self.job_id, "reason": reason})
        return BatchJobDescription.from_json(data)


class BatchClient:
    """The batch methods of ``Client`` (one of its base classes)."""

    if TYPE_CHECKING:

        async def _call(self, method: str, suffix: str, **kwargs: Any) -> Any: ...

    async def _start_batch(self, body: dict[str, Any]) -> BatchJobHandle:
        data = await self._call("POST", "/batches", body={k: v for k, v in body.items() if v is not None})
        return BatchJobHandle(self._call, data["job_id"])

    async def terminate_workflows(
        self, query: str, *, reason: str = "", rps: float | None = None, job_id: str | None = None
    ) -> BatchJobHandle:
        """Terminate every running run ``query`` (a list filter, as ``list_workflows`` takes) selects, as a
        batch job on the server going at most ``rps`` runs a second (50 by default). Returns at once with the
        job's handle; ``await handle.wait()`` for its end. ``InvalidQueryError`` for an empty or refused query."""
        return await self._start_batch(
            {"operation": "terminate", "query": query, "reason": reason, "rps": rps, "job_id": job_id}
        )

    async def cancel_workflows(
        self, query: str, *, reason: str = "", rps: float | None = None, job_id: str | None = None
    ) -> BatchJobHandle:
        """Ask every run ``query`` selects to cancel (see ``terminate_workflows``; a run asked already is
        skipped)."""
        return await self._start_batch(
            {"operation": "cancel", "query": query, "reason": reason, "rps": rps, "job_id": job_id}
        )

    @overload
    async def signal_workflows(
        self, query: str, signal: SignalMethod[S, []], *, rps: float | None = ..., job_id: str | None = ...
    ) -> BatchJobHandle: ...

    @overload
    async def signal_workflows(
        self, query: str, signal: SignalMethod[S, [A]], arg: A, *, rps: float | None = ..., job_id: str | None = ...
    ) -> BatchJobHandle: ...

    @overload
    async def signal_workflows(
        self, query: str, signal: str, arg: Any = ..., *, rps: float | None = ..., job_id: str | None = ...
    ) -> BatchJobHandle: ...

    async def signal_workflows(
        self, query: str, signal: Any, arg: Any = None, *, rps: float | None = None, job_id: str | None = None
    ) -> BatchJobHandle:
        """Send the signal (a ``@workflow.signal`` method or a name) with ``arg`` to every running run ``query``
        selects, once each (see ``terminate_workflows``)."""
        name, takes_input = _message_name(signal, "signal")
        try:
            payload = _encode(arg) if takes_input else None
        except _PayloadError as e:
            raise _InvalidArgumentError(f"the payload of signal {name!r} cannot be sent: {e}") from None
        return await self._start_batch(
            {"operation": "signal", "query": query, "signal_name": name, "input": payload, "rps": rps, "job_id": job_id}
        )

    async def reset_workflows(
        self,
        query: str,
        *,
        reset_type: str = "LastWorkflowTask",
        reason: str = "",
        rps: float | None = None,
        job_id: str | None = None,
    ) -> BatchJobHandle:
        """Reset every run ``query`` selects to its first or last completed workflow task (``reset_type``
        "FirstWorkflowTask" or "LastWorkflowTask"; see ``WorkflowHandle.reset``)."""
        return await self._start_batch(
            {
                "operation": "reset",
                "query": query,
                "reset_type": reset_type,
                "reason": reason,
                "rps": rps,
                "job_id": job_id,
            }
        )

    def get_batch_job_handle(self, job_id: str) -> BatchJobHandle:
        """A handle to the batch job ``job_id``."""
        return BatchJobHandle(self._call, job_id)

    async def list_batch_jobs(self) -> list[BatchJobDescription]:
        """The namespace's batch jobs, newest first."""
        data = await self._call("GET", "/batches")
        return [BatchJobDescription.from_json(j) for j in data["jobs"]]
