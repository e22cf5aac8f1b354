"""Matching: task queues, the workers polling them, and worker sessions.

A task queue holds references to ready tasks and the polls waiting for one. Handing a reference to
a poll does not start the task: the poll asks the engine to start it, and the engine checks that the
task is still wanted (so a stale reference, e.g. one re-queued twice, is simply skipped).

A worker session is how the server knows a worker is alive: the worker registers, heartbeats, and
every task it is given is recorded against its session. When the heartbeats stop, the session ends
and its tasks go back to the queues at once (the engine decides how, see ``Engine.session_lost``).
A workflow task can be "sticky": offered first to the session that ran the workflow's last task,
which still has the workflow in memory and needs only the new events.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = ["ActivityRef", "Matching", "Session", "TaskQueue", "Waiter", "WorkerLink"]

Kind = Literal["workflow", "activity"]

_ABSENT = object()

#: An activity task reference: (run_id, scheduled_event_id). A workflow task reference is a run_id.
ActivityRef = tuple[str, int]
Ref = str | ActivityRef


class Waiter:
    """One poll waiting for a task."""

    __slots__ = ("future", "session")

    def __init__(self, session: Session, future: asyncio.Future[Ref | None]) -> None:
        self.session = session
        self.future = future


class WorkerLink(Protocol):
    """The server's way to reach a worker on its own initiative (its channel connection)."""

    def notify(self, op: str, body: dict[str, Any]) -> None:
        """Send a message that needs no answer."""
        ...

    async def request(self, op: str, body: dict[str, Any], timeout: float) -> Any:
        """Ask the worker something and wait up to ``timeout`` seconds for its answer."""
        ...


@dataclass(eq=False)
class Session:
    id: str
    namespace: str
    task_queue: str
    identity: str
    workflow_types: list[str]
    activity_types: list[str]
    last_seen: float
    inflight_workflows: set[str] = field(default_factory=set)
    inflight_activities: set[ActivityRef] = field(default_factory=set)
    #: Workflow tasks offered to this session first (run ids, oldest first): an ordered set, since a
    #: task not taken in time is removed from the middle (``unstick``), in O(1) however many wait.
    sticky: OrderedDict[str, None] = field(default_factory=OrderedDict)
    wt_waiters: deque[Waiter] = field(default_factory=deque)
    closed: bool = False
    #: The session is a worker channel connection: it ends when the connection closes, not by lease.
    on_channel: bool = False
    #: When the session was opened.
    connected_since: float = 0.0
    #: How to reach the worker (its channel), or None for a worker that polls over HTTP.
    link: WorkerLink | None = None


@dataclass(eq=False)
class TaskQueue:
    namespace: str
    name: str
    kind: Kind
    ready: deque[Ref] = field(default_factory=deque)
    waiters: deque[Waiter] = field(default_factory=deque)


class Matching:
    """In-memory task queues and sessions of one server."""

    def __init__(self) -> None:
        self.queues: dict[tuple[str, str, Kind], TaskQueue] = {}
        self.sessions: dict[str, Session] = {}
        self._ids = itertools.count(1)

    def queue(self, namespace: str, name: str, kind: Kind) -> TaskQueue:
        key = (namespace, name, kind)
        q = self.queues.get(key)
        if q is None:
            q = self.queues[key] = TaskQueue(namespace, name, kind)
        return q

    # --- sessions --------------------------------------------------------------------------------------

    def new_session(
        self,
        namespace: str,
        task_queue: str,
        identity: str,
        workflow_types: list[str],
        activity_types: list[str],
        now: float,
    ) -> Session:
        sid = f"{uuid.uuid4().hex[:16]}-{next(self._ids)}"
        s = Session(sid, namespace, task_queue, identity, workflow_types, activity_types, now, connected_since=now)
        self.sessions[sid] = s
        return s

    def close_session(self, session: Session) -> None:
        """Forget the session; its sticky tasks move to the normal queue."""
        session.closed = True
        self.sessions.pop(session.id, None)
        for w in session.wt_waiters:
            if not w.future.done():
                w.future.set_result(None)
        session.wt_waiters.clear()
        activity_queue = self.queue(session.namespace, session.task_queue, "activity")
        for w in activity_queue.waiters:
            if w.session is session and not w.future.done():
                w.future.set_result(None)
        q = self.queue(session.namespace, session.task_queue, "workflow")
        while session.sticky:
            self._offer(q, session.sticky.popitem(last=False)[0])

    # --- offering tasks --------------------------------------------------------------------------------

    def offer_workflow_task(self, namespace: str, task_queue: str, run_id: str, sticky: Session | None) -> None:
        if sticky is not None and not sticky.closed:
            while sticky.wt_waiters:
                w = sticky.wt_waiters.popleft()
                if not w.future.done():
                    w.future.set_result(run_id)
                    return
            sticky.sticky[run_id] = None
            return
        self._offer(self.queue(namespace, task_queue, "workflow"), run_id)

    def unstick(self, session: Session, run_id: str) -> bool:
        """Move a sticky task that its session did not pick up in time to the normal queue."""
        if session.sticky.pop(run_id, _ABSENT) is _ABSENT:
            return False
        self._offer(self.queue(session.namespace, session.task_queue, "workflow"), run_id)
        return True

    def offer_activity_task(self, namespace: str, task_queue: str, ref: ActivityRef) -> None:
        self._offer(self.queue(namespace, task_queue, "activity"), ref)

    @staticmethod
    def _offer(q: TaskQueue, ref: Ref) -> None:
        while q.waiters:
            w = q.waiters.popleft()
            if w.future.done():
                continue
            if w.session.closed:
                w.future.set_result(None)  # answer it, so its poll ends now rather than at its deadline
                continue
            w.future.set_result(ref)
            return
        q.ready.append(ref)

    # --- polling ---------------------------------------------------------------------------------------

    def take_workflow_task(self, session: Session) -> str | None:
        if session.sticky:
            return session.sticky.popitem(last=False)[0]
        q = self.queue(session.namespace, session.task_queue, "workflow")
        if q.ready:
            ref = q.ready.popleft()
            assert isinstance(ref, str)
            return ref
        return None

    def take_activity_task(self, session: Session) -> ActivityRef | None:
        q = self.queue(session.namespace, session.task_queue, "activity")
        if q.ready:
            ref = q.ready.popleft()
            assert isinstance(ref, tuple)
            return ref
        return None

    def wait(self, session: Session, kind: Kind) -> Waiter:
        """Register a poll that waits; the caller awaits ``waiter.future`` (None: woken without a task)."""
        w = Waiter(session, asyncio.get_running_loop().create_future())
        q = self.queue(session.namespace, session.task_queue, kind)
        # Polls that timed out leave finished waiters behind; drop them so idle queues stay small.
        while q.waiters and q.waiters[0].future.done():
            q.waiters.popleft()
        q.waiters.append(w)
        if kind == "workflow":
            while session.wt_waiters and session.wt_waiters[0].future.done():
                session.wt_waiters.popleft()
            session.wt_waiters.append(w)
        return w

    def give_back(self, waiter: Waiter, kind: Kind) -> None:
        """A waiter that got a task but cannot use it (its poll ended) returns it to the queue."""
        fut = waiter.future
        if fut.done() and not fut.cancelled():
            ref = fut.result()
            if ref is not None:
                self.requeue(waiter.session, kind, ref)

    def requeue(self, session: Session, kind: Kind, ref: Ref) -> None:
        """Put back a task a poll took but could not hand out: to another waiting poll, or first in line."""
        q = self.queue(session.namespace, session.task_queue, kind)
        while q.waiters:
            w = q.waiters.popleft()
            if w.future.done():
                continue
            if w.session.closed:
                w.future.set_result(None)
                continue
            w.future.set_result(ref)
            return
        q.ready.appendleft(ref)
