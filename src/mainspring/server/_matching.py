"""Matching: task queues, the workers polling them, and worker sessions.

A task queue holds references to ready tasks and the polls waiting for one. Handing a reference to
a poll does not start the task: the poll asks the engine to start it, and the engine checks that the
task is still wanted (so a stale reference, e.g. one re-queued twice, is simply skipped).

A worker session is how the server knows a worker is alive: the worker registers, heartbeats, and
every task it is given is recorded against its session. When the heartbeats stop, the session ends
and its tasks go back to the queues at once (the engine decides how, see ``Engine.session_lost``).
A workflow task can be "sticky": offered first to the session that ran the workflow's last task,
which still has the workflow in memory and needs only the new events.

Builds (``features.versioning``): a worker may declare the build of its code. The queue's current build is,
of the builds with a live worker, the one whose first worker started last (by the workers' process start,
so reconnecting after a server restart, in any order, keeps it, and an old build's worker restarted
later does not make that build current again); the shared workflow queue (new runs, runs that move with the current
build) is served by workers of that build and by workers that declared none. A run pinned to a build has its
tasks offered on that build's own queue, which only its workers poll.
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
    #: The value is the build the run is pinned to (None: the shared queue), where it goes if unstuck.
    sticky: OrderedDict[str, str | None] = field(default_factory=OrderedDict)
    wt_waiters: deque[Waiter] = field(default_factory=deque)
    closed: bool = False
    #: The session is a worker channel connection: it ends when the connection closes, not by lease.
    on_channel: bool = False
    #: When the session was opened.
    connected_since: float = 0.0
    #: How to reach the worker (its channel), or None for a worker that polls over HTTP.
    link: WorkerLink | None = None
    #: The build of the worker's code, if it declared one; when its process started (orders the builds).
    build_id: str | None = None
    started_at: float = 0.0
    #: Workflow type -> its versioning behavior ("PINNED" / "AUTO_UPGRADE"), for a worker with a build.
    versioning: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class TaskQueue:
    namespace: str
    name: str
    kind: Kind
    ready: deque[Ref] = field(default_factory=deque)
    waiters: deque[Waiter] = field(default_factory=deque)
    #: The shared workflow queue: the build new runs go to (None while no worker declared one).
    current_build: str | None = None


class Matching:
    """In-memory task queues and sessions of one server."""

    def __init__(self) -> None:
        self.queues: dict[tuple[str, str, Kind], TaskQueue] = {}
        self.sessions: dict[str, Session] = {}
        #: (namespace, task queue, build id, kind) -> the tasks of the runs pinned to that build (their
        #: workflow tasks, and their activities on the run's own task queue).
        self.build_queues: dict[tuple[str, str, str, Kind], TaskQueue] = {}
        #: (namespace, task queue, build id) -> when its first worker started (the earliest ``started_at``
        #: seen). A build's worker restarted later does not make an older build current again. The engine
        #: fills it from the store (``Store.note_build``) before a worker of a build registers, so that this
        #: holds across server restarts too.
        self.build_first_seen: dict[tuple[str, str, str], float] = {}
        self._ids = itertools.count(1)

    def queue(self, namespace: str, name: str, kind: Kind) -> TaskQueue:
        key = (namespace, name, kind)
        q = self.queues.get(key)
        if q is None:
            q = self.queues[key] = TaskQueue(namespace, name, kind)
        return q

    def build_queue(self, namespace: str, name: str, build_id: str, kind: Kind = "workflow") -> TaskQueue:
        key = (namespace, name, build_id, kind)
        q = self.build_queues.get(key)
        if q is None:
            q = self.build_queues[key] = TaskQueue(namespace, name, kind)
        return q

    def _target(self, namespace: str, name: str, pin: str | None, kind: Kind = "workflow") -> TaskQueue:
        return self.queue(namespace, name, kind) if pin is None else self.build_queue(namespace, name, pin, kind)

    def eligible(self, session: Session, pin: str | None) -> bool:
        """May ``session`` run a workflow task of a run pinned to ``pin`` (None: a run on the shared queue)?"""
        if pin is not None:
            return session.build_id == pin
        build = session.build_id
        return build is None or build == self.queue(session.namespace, session.task_queue, "workflow").current_build

    def _choose_current(self, namespace: str, name: str) -> None:
        """Set the queue's current build after a worker with a build came or went: of the builds with a live
        worker, the one first seen last. When it changes, the workers of the queue's builds have their polls
        answered empty, so each polls again where it now belongs."""
        q = self.queue(namespace, name, "workflow")
        live = {
            s.build_id
            for s in self.sessions.values()
            if s.build_id is not None and not s.closed and s.namespace == namespace and s.task_queue == name
        }
        seen = self.build_first_seen
        current = max(live, key=lambda b: (seen.get((namespace, name, b), 0.0), b)) if live else None
        if current == q.current_build:
            return
        q.current_build = current
        for s in self.sessions.values():
            if s.build_id is not None and s.namespace == namespace and s.task_queue == name:
                for w in s.wt_waiters:
                    if not w.future.done():
                        w.future.set_result(None)

    # --- sessions --------------------------------------------------------------------------------------

    def new_session(
        self,
        namespace: str,
        task_queue: str,
        identity: str,
        workflow_types: list[str],
        activity_types: list[str],
        now: float,
        *,
        build_id: str | None = None,
        started_at: float | None = None,
        versioning: dict[str, str] | None = None,
    ) -> Session:
        sid = f"{uuid.uuid4().hex[:16]}-{next(self._ids)}"
        s = Session(sid, namespace, task_queue, identity, workflow_types, activity_types, now, connected_since=now)
        if build_id is not None:
            s.build_id = build_id
            s.started_at = now if started_at is None else started_at
            s.versioning = versioning or {}
            key = (namespace, task_queue, build_id)
            self.build_first_seen[key] = min(self.build_first_seen.get(key, s.started_at), s.started_at)
        self.sessions[sid] = s
        if build_id is not None:
            self._choose_current(namespace, task_queue)
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
        while session.sticky:
            run_id, pin = session.sticky.popitem(last=False)
            self._offer(self._target(session.namespace, session.task_queue, pin), run_id)
        if session.build_id is not None:
            self._choose_current(session.namespace, session.task_queue)

    # --- offering tasks --------------------------------------------------------------------------------

    def offer_workflow_task(
        self, namespace: str, task_queue: str, run_id: str, sticky: Session | None, pin: str | None = None
    ) -> None:
        """Offer a run's workflow task: to ``sticky`` first if it may run it, else on the shared queue, or on
        the queue of the build ``pin`` the run is pinned to."""
        if sticky is not None and not sticky.closed and self.eligible(sticky, pin):
            while sticky.wt_waiters:
                w = sticky.wt_waiters.popleft()
                if not w.future.done():
                    w.future.set_result(run_id)
                    return
            sticky.sticky[run_id] = pin
            return
        self._offer(self._target(namespace, task_queue, pin), run_id)

    def unstick(self, session: Session, run_id: str) -> bool:
        """Move a sticky task that its session did not pick up in time to the normal queue."""
        pin = session.sticky.pop(run_id, _ABSENT)
        if pin is _ABSENT:
            return False
        assert pin is None or isinstance(pin, str)
        self._offer(self._target(session.namespace, session.task_queue, pin), run_id)
        return True

    def offer_activity_task(self, namespace: str, task_queue: str, ref: ActivityRef, pin: str | None = None) -> None:
        """Offer an activity task: on the shared queue, or on that of the build ``pin`` its run is pinned to."""
        self._offer(self._target(namespace, task_queue, pin, "activity"), ref)

    @staticmethod
    def _hand(q: TaskQueue, ref: Ref) -> bool:
        """Give ``ref`` to the first poll waiting on ``q`` that may take it; False if none."""
        current = q.current_build
        while q.waiters:
            w = q.waiters.popleft()
            if w.future.done():
                continue
            build = w.session.build_id
            if w.session.closed or (current is not None and build is not None and build != current):
                # Answer it, so its poll ends now rather than at its deadline (a worker of a build that is
                # no longer current polls again on its build's queue alone).
                w.future.set_result(None)
                continue
            w.future.set_result(ref)
            return True
        return False

    def _offer(self, q: TaskQueue, ref: Ref) -> None:
        if not self._hand(q, ref):
            q.ready.append(ref)

    # --- polling ---------------------------------------------------------------------------------------

    def take_workflow_task(self, session: Session) -> str | None:
        if session.sticky:
            return session.sticky.popitem(last=False)[0]
        if session.build_id is not None:
            own = self.build_queues.get((session.namespace, session.task_queue, session.build_id, "workflow"))
            if own is not None and own.ready:
                ref = own.ready.popleft()
                assert isinstance(ref, str)
                return ref
            if not self.eligible(session, None):
                return None
        q = self.queue(session.namespace, session.task_queue, "workflow")
        if q.ready:
            ref = q.ready.popleft()
            assert isinstance(ref, str)
            return ref
        return None

    def take_activity_task(self, session: Session) -> ActivityRef | None:
        if session.build_id is not None:
            own = self.build_queues.get((session.namespace, session.task_queue, session.build_id, "activity"))
            if own is not None and own.ready:
                ref = own.ready.popleft()
                assert isinstance(ref, tuple)
                return ref
        q = self.queue(session.namespace, session.task_queue, "activity")
        if q.ready:
            ref = q.ready.popleft()
            assert isinstance(ref, tuple)
            return ref
        return None

    def wait(self, session: Session, kind: Kind) -> Waiter:
        """Register a poll that waits; the caller awaits ``waiter.future`` (None: woken without a task)."""
        w = Waiter(session, asyncio.get_running_loop().create_future())
        if session.build_id is not None:
            own = self.build_queue(session.namespace, session.task_queue, session.build_id, kind)
            self._add_waiter(own, w)
            if kind == "activity" or self.eligible(session, None):
                self._add_waiter(self.queue(session.namespace, session.task_queue, kind), w)
        else:
            self._add_waiter(self.queue(session.namespace, session.task_queue, kind), w)
        if kind == "workflow":
            while session.wt_waiters and session.wt_waiters[0].future.done():
                session.wt_waiters.popleft()
            session.wt_waiters.append(w)
        return w

    @staticmethod
    def _add_waiter(q: TaskQueue, w: Waiter) -> None:
        # Polls that timed out leave finished waiters behind; drop them so idle queues stay small.
        while q.waiters and q.waiters[0].future.done():
            q.waiters.popleft()
        q.waiters.append(w)

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
        # (A workflow task of a pinned run lands here too: the engine sends it on to its build when a
        # worker of another build takes it, see WorkflowTasks._start.)
        if not self._hand(q, ref):
            q.ready.appendleft(ref)
