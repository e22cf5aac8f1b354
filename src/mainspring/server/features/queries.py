"""Queries: a question to a workflow, answered by a worker from the workflow's current state; nothing is
written (a query is no event, and costs the run's history nothing).

The server does not run workflow code, so it asks a worker over its channel (``WorkerLink.request``,
op ``"query"``), as it asks for a workflow's stack: the worker that holds the run in its sticky cache if
one does (it answers at once, between the run's workflow tasks), else any live worker polling the run's
task queue that runs its type, which replays the run's history into an instance of its own (not cached,
and whose commands go nowhere): that is how an evicted run, a run whose worker restarted, and a closed run
are queried. The request carries a history token (a workflow task token for no task: attempt 0 is never a
task's) so the worker can page the history in with ``get_workflow_task_history``, as it does for a
workflow task whose history it lacks.

A query waits (up to half its timeout) for a workflow task of the run that is pending when it comes, so that it sees
what was recorded before it (a signal acknowledged just before: read after write, as in Temporal), and the
worker answers between the run's workflow tasks (under the run's lock), never from the middle of one.

With no worker to ask, the query waits for one until its timeout (at most the server's ``--max-poll-wait``),
then fails with 408 ``no_worker`` naming the task queue: a deadline exceeded, as Temporal answers, but a
4xx, since the server is fine and a 5xx would have clients and proxies retrying it as a server fault. A
name the type's workers did not announce is refused at once (400 ``unknown_query``, the known names in
``details.known``); a payload is checked against the announced schema (400 ``invalid_input``, naming the
field). What the handler itself refuses or raises comes back as 400 ``query_failed`` (or
``unknown_query``, if the worker's code has no such handler after all).
"""

from __future__ import annotations

import asyncio
import difflib
import random
from typing import TYPE_CHECKING, Any

from ...api import messages as msg
from ...api.enums import WorkflowStatus
from ...errors import InvalidArgumentError, RPCError

if TYPE_CHECKING:
    from ...storage import ExecutionRecord
    from .._core import EngineCore
    from .._matching import Session
    from .._state import WorkflowTaskInfo
    from .._transition import Transition
    from .signals import HandlerSchemas

__all__ = ["DEFAULT_TIMEOUT", "MAX_TIMEOUT", "Queries"]

#: How long a query waits for a worker's answer unless it says (seconds), and the most it may ask for.
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 60.0
#: While no worker can be asked, how often to look again.
_LOOK_AGAIN = 0.05


class Queries:
    """The query operation of one engine."""

    def __init__(self, core: EngineCore, schemas: HandlerSchemas) -> None:
        self.core = core
        self.schemas = schemas
        #: The queries waiting for a run's workflow task: run id -> (the task when they came, woken when done).
        self._waiting: dict[str, list[tuple[WorkflowTaskInfo, asyncio.Future[None]]]] = {}

    async def query(self, namespace: str, req: msg.QueryWorkflowRequest) -> dict[str, Any]:
        """Ask a worker to run the query on the run's current state (a closed run's: its final state)."""
        core = self.core
        core._check_payload(f"the payload of query {req.query_name!r}", req.input)
        if req.header is not None:
            core._check_payload("the header", req.header)
        rec = await core._find(namespace, req.workflow_id, req.run_id)
        await self._check_name(rec, req.query_name)
        await self.schemas.check(namespace, rec.task_queue, rec.workflow_type, "query", req.query_name, req.input)
        # Bounded by the server's longest poll as well: a query waiting for a worker is a poll of sorts.
        timeout = min(req.timeout or DEFAULT_TIMEOUT, MAX_TIMEOUT, core.config.max_poll_wait.total_seconds())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        tried: set[str] = set()
        refused: str | None = None  # what the last worker asked said instead of an answer
        settled = False
        while True:
            session, why_not = self._worker_for(rec, tried)
            why_not = refused or why_not
            if session is not None and not settled:
                settled = True
                # Half the time at most: the other half is the worker's, to answer.
                if await self._task_done(rec, loop.time() + timeout / 2):
                    continue  # the state moved on: the worker to ask may be another one now
            remaining = deadline - loop.time()
            if session is None or session.link is None:
                if remaining <= 0:
                    raise RPCError(
                        f"no worker answered query {req.query_name!r} of workflow {rec.workflow_id!r} within "
                        f"{timeout:g} s: {why_not}. Start a worker on task queue {rec.task_queue!r} that runs "
                        f"workflow {rec.workflow_type!r}",
                        code="no_worker",
                        details={"task_queue": rec.task_queue, "workflow_type": rec.workflow_type},
                    )
                await asyncio.sleep(min(_LOOK_AGAIN, remaining))
                continue
            body = {
                "run_id": rec.run_id,
                "workflow_id": rec.workflow_id,
                "workflow_type": rec.workflow_type,
                "task_queue": rec.task_queue,
                "query_name": req.query_name,
                "input": req.input,
                "last_event_id": rec.next_event_id - 1,
                "history_token": core.tokens.make("w", namespace, rec.run_id, 0, 0, session.id),
                # Only the sticky worker's cached copy is known to be current: another worker's (one that
                # ran the run before it moved on) may lag behind, so that one replays the history instead.
                "sticky": self._sticky(rec) is session,
            }
            if req.header is not None:
                body["header"] = req.header  # (``api.headers``: for the worker's interceptors, never read here)
            try:
                answer = await session.link.request("query", body, remaining)
            except TimeoutError:
                raise RPCError(
                    f"worker {session.identity} did not answer query {req.query_name!r} of workflow "
                    f"{rec.workflow_id!r} within {timeout:g} s (task queue {rec.task_queue!r}); a long history "
                    "takes a while to replay: try a longer timeout",
                    code="query_timeout",
                    details={"task_queue": rec.task_queue, "worker": session.identity},
                ) from None
            except ConnectionError:
                tried.add(session.id)  # it went away meanwhile: ask another
                continue
            except RPCError as e:  # it cannot answer queries (an older worker): ask another
                tried.add(session.id)
                refused = f"worker {session.identity} could not answer ({e.message})"
                continue
            return self._answer(rec, req.query_name, answer, session)

    # --- the state to read ------------------------------------------------------------------------------

    async def _task_done(self, rec: ExecutionRecord, until: float) -> bool:
        """Wait (up to ``until``) while the run has a workflow task pending, so that the answer reflects
        what was recorded before the query (a signal just acknowledged, say), as Temporal's queries do;
        whether there was one. Not for a task whose code keeps failing: then the last good state is the
        answer, and a query is just what helps find out why."""
        ex = self.core._cache.get(rec.run_id)
        if ex is None or not ex.running or ex.state.wt is None or ex.state.wt.attempt > 1:
            return False
        loop = asyncio.get_running_loop()
        entry: tuple[WorkflowTaskInfo, asyncio.Future[None]] = (ex.state.wt, loop.create_future())
        self._watch(rec.run_id, entry)
        try:
            await asyncio.wait([entry[1]], timeout=max(0.0, until - loop.time()))
        finally:
            self._unwatch(rec.run_id, entry)
        return True

    # The transitions are watched only while a query waits: ``_finished`` is among the core's finishers then,
    # and only then, so the transition path of a server no one queries does not change at all. A waiting query
    # goes on when the transition that completes the task ends, as its write is submitted rather than once it
    # is durable: the worker answers from the state that task left, which is the run's once the write is done
    # (a write that fails has the task run again, to the same state), and it answers at once, while the
    # completion's answer is still on its way to it (``worker._queries``).

    def _watch(self, run_id: str, entry: tuple[WorkflowTaskInfo, asyncio.Future[None]]) -> None:
        if not self._waiting:
            self.core.on_finish(self._finished)
        self._waiting.setdefault(run_id, []).append(entry)

    def _unwatch(self, run_id: str, entry: tuple[WorkflowTaskInfo, asyncio.Future[None]]) -> None:
        entries = self._waiting.get(run_id)
        if entries is not None and entry in entries:
            entries.remove(entry)
            if not entries:
                del self._waiting[run_id]
        if not self._waiting and self._finished in self.core.finishers:
            self.core.finishers.remove(self._finished)  # (never called from a finisher: a waiting query's code)

    def _finished(self, t: Transition) -> None:
        """A transition ends: wake the queries waiting for the run's workflow task if it is done."""
        ex = t.ex
        entries = self._waiting.get(ex.record.run_id)
        if entries is None:
            return
        wt = ex.state.wt
        for noted, fut in entries:
            if not fut.done() and (wt is not noted or not ex.running):
                fut.set_result(None)

    # --- the worker to ask ------------------------------------------------------------------------------

    def _sticky(self, rec: ExecutionRecord) -> Session | None:
        """The session that holds the running run in its sticky cache, if one does."""
        if rec.status is not WorkflowStatus.RUNNING:
            return None
        ex = self.core._cache.get(rec.run_id)
        return self.core.workflow_tasks.sticky_session(ex) if ex is not None else None

    def _worker_for(self, rec: ExecutionRecord, tried: set[str]) -> tuple[Session | None, str]:
        """The session to ask, or None and why there is none."""
        core = self.core
        sticky = self._sticky(rec)
        if sticky is not None and sticky.link is not None and sticky.id not in tried:
            return sticky, ""
        polling = [
            s
            for s in core.matching.sessions.values()
            if not s.closed
            and s.namespace == rec.namespace
            and s.task_queue == rec.task_queue
            and rec.workflow_type in s.workflow_types
        ]
        build = (rec.state or {}).get("bld") or {}
        if build.get("v") == "PINNED":
            # A pinned run replays only on its own build's code (features.versioning).
            polling = [s for s in polling if s.build_id == build.get("c")]
        reachable = [s for s in polling if s.link is not None and s.id not in tried]
        if reachable:
            return random.choice(reachable), ""
        if polling and all(s.link is None for s in polling):
            return None, (
                f"the workers polling task queue {rec.task_queue!r} poll over HTTP, and only a worker on a "
                "channel can be asked"
            )
        return None, f"no worker polls task queue {rec.task_queue!r} for workflow type {rec.workflow_type!r}"

    # --- names and answers ------------------------------------------------------------------------------

    async def _check_name(self, rec: ExecutionRecord, name: str) -> None:
        """Refuse a query name the type's workers announced no handler for (nothing is asked of a worker)."""
        table = await self.schemas.of(rec.namespace, rec.task_queue, rec.workflow_type)
        if table is None or ("query", name) in table or ("query", None) in table:
            return
        known = sorted(n for k, n in table if k == "query" and n is not None)
        raise _unknown(rec.workflow_type, name, known)

    @staticmethod
    def _answer(rec: ExecutionRecord, name: str, answer: Any, session: Session) -> dict[str, Any]:
        if not isinstance(answer, dict):
            raise RPCError(
                f"worker {session.identity} gave an answer to query {name!r} that could not be read",
                code="bad_worker_answer",
            )
        failed = answer.get("failed")
        if failed is None:
            return {"answer": answer.get("answer")}
        message = str(failed.get("message") or "the query failed") if isinstance(failed, dict) else str(failed)
        known = failed.get("known") if isinstance(failed, dict) else None
        if isinstance(known, list) and failed.get("unknown"):
            raise _unknown(rec.workflow_type, name, [str(k) for k in known])
        raise InvalidArgumentError(message, code="query_failed")


def _unknown(workflow_type: str, name: str, known: list[str]) -> InvalidArgumentError:
    listed = ", ".join(repr(n) for n in known[:20]) if known else "none"
    close = difflib.get_close_matches(name, known, n=1)
    guess = f" Did you mean {close[0]!r}?" if close else ""
    return InvalidArgumentError(
        f"workflow {workflow_type!r} has no query named {name!r} (its queries: {listed}).{guess}",
        code="unknown_query",
        details={"known": known},
    )
