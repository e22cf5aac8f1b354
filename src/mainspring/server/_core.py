"""The engine's spine: the execution cache, committing a run's changes, and what features register.

Every change to a run is a ``Transition`` (``_transition``): load the run into the cache, take its
lock, change its in-memory state and collect new history events, commit both in one conditional
write, and only then act on the outside world (hand out tasks, arm timers, answer waiters). Nothing
is acknowledged before it is durable. The transition picks the fast paths, built on the machinery
here: a commit that runs behind the answer (``_commit_behind``), and one whose lock is released as
soon as it is submitted (``_submit_commit``: the store applies writes in the order they are
submitted, so the run's next transition builds on it and is refused by the version check if it was
lost; its own answer and effects still wait for the write). Whoever reads the run as committed
(describe, result, a workflow task's history) waits for the writes in flight first (``_written``).
One more path, which acknowledges nothing: a new run's first workflow task is handed out while the
start is being written (workflow code has no effects; the task's completion waits for that write).

Features (``features``) register with the core what they do once a transition is durable
(``on_commit``), what they re-arm for a run taken from the store (``on_rearm``), and what they let go
of when a run closes (``on_close``). The core calls no feature by name, except the two a transition's
fast paths hand work to (``workflow_tasks`` and ``activity_tasks``).

A run's in-memory copy (``Execution``), a transition's ``Effects`` and the small helpers they share are
in ``_execution``.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from .._repeats import RepeatedLog
from ..api.enums import (
    WorkflowStatus,
)
from ..errors import (
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
)
from ..storage import (
    ConditionFailedError,
    ExecutionRecord,
    ExecutionWrite,
    HistoryEvent,
    StorageError,
    Store,
)
from ._admission import Admission
from ._config import ServerConfig
from ._execution import (
    Effects,
    Execution,
    outcome_of,
    payload_size,
)
from ._health import StoreHealth
from ._limits import Limits
from ._logs import about
from ._matching import Kind, Matching, Session
from ._state import ActivityInfo, ExecutionState, UnreadableStateError, WorkflowTaskInfo
from ._timers import Clock, SystemClock, TimerWheel
from ._tokens import KEY_NAME, TaskTokens
from ._transition import Transition, TransitionScope
from .features import COMMAND_KINDS, CommandKinds

if TYPE_CHECKING:
    from ._metrics import Metrics
    from ._tracing import ServerTracing
    from .features.activity_tasks import ActivityTasks
    from .features.workflow_tasks import WorkflowTasks

__all__ = ["AFTER_ANSWER", "EngineCore"]

#: A feature's class (``EngineCore.feature``).
F = TypeVar("F")

log = logging.getLogger("mainspring.server")

#: Set by the worker channel for each operation it runs: registers a callback to run once the
#: operation's answer has been written to the socket (see ``EngineCore._commit_behind``).
AFTER_ANSWER: contextvars.ContextVar[Callable[[Callable[[], None]], None] | None] = contextvars.ContextVar(
    "mainspring_after_answer", default=None
)


#: The version given to an in-memory copy whose commit failed: no stored run has it.
_POISONED = -(2**62)

#: Each trim of the execution cache forgets at most _TRIM_EVICT runs and looks at most at _TRIM_LOOK.
_TRIM_EVICT = 2
_TRIM_LOOK = 8


class EngineCore:
    """The spine the features are built on: the execution cache, the transition path (load, lock,
    change, commit, act), task tokens, long polls, and what features register to be called on."""

    #: The command kinds this engine accepts (``features``). One table for every engine; a test may
    #: give one engine a table of its own.
    command_kinds: CommandKinds = COMMAND_KINDS
    #: The features whose parts the transition core calls on itself (set by ``Engine``): handing a
    #: workflow task back in an answer, and activities to the worker that scheduled them.
    workflow_tasks: WorkflowTasks
    activity_tasks: ActivityTasks

    def __init__(self, store: Store, config: ServerConfig, clock: Clock | None = None) -> None:
        self.store = store
        self.config = config
        self.clock: Clock = clock or SystemClock()
        #: Where this server answers (host:port of its API) and when it started serving (Unix seconds): set by
        #: the server once its port is bound and its store open; what the cluster view says of this server.
        self.address = ""
        self.started_at = self.clock.now()
        #: The server's Prometheus metrics (``_metrics``), or None when they are off: then the paths that
        #: count cost one attribute test.
        self.metrics: Metrics | None = None
        #: The server's OpenTelemetry spans (``_tracing``), or None when they are off (the default).
        self.tracing: ServerTracing | None = None
        self.matching = Matching()
        self.timers = TimerWheel(self.clock)
        self._cache: OrderedDict[str, Execution] = OrderedDict()
        self._result_waiters: dict[str, list[asyncio.Future[None]]] = {}
        #: Operations from workers and clients under way, not counting those that only wait (polls).
        self.operations = 0
        #: Commits running after their answer went out (see _commit_behind).
        self._behind: set[asyncio.Task[None]] = set()
        #: Runs that may have changed since a watcher last looked: locked for a transition, handed a
        #: workflow task, written, or added to the cache. None (the default) unless something watches
        #: (the time-skipping test clock, ``testing._skipping``): then each such step adds its run, so
        #: the watcher looks only at those instead of every cached run on each look.
        self.touched: set[Execution] | None = None
        #: Called with a run's record and the failure, once a worker's failure of its workflow task is
        #: recorded (the time-skipping test environment ends a run whose code deadlocked); None: nothing.
        self.on_workflow_task_failure: Callable[[ExecutionRecord, dict[str, Any]], None] | None = None
        #: Runs being reloaded after a failed write (see _restore); cancelled when the server stops.
        self._restores: set[asyncio.Task[None]] = set()
        #: How writes are going: retries after a failed one back off (see _restore).
        self.health = StoreHealth()
        #: Errors that repeat while the store fails (a full disk) are logged once with a count.
        self.repeats = RepeatedLog(log)
        #: Runs whose stored state cannot be read, and why: kept out of queues and timers, described
        #: with their problem (see _state_of).
        self.set_aside: dict[str, str] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._schemas: dict[tuple[str, str, str], dict[str, Any] | None] = {}
        self._namespaces: set[str] = set()
        self.wt_timeout = config.workflow_task_timeout.total_seconds()
        self.sticky_timeout = config.sticky_schedule_to_start_timeout.total_seconds()
        self.session_timeout = config.worker_session_timeout.total_seconds()
        self.max_payload = config.max_payload_bytes
        self.limits = Limits(config)
        self.stopping = False
        self.admission = Admission(target=config.start_delay_target.total_seconds(), limit=config.max_pending_starts)

        #: What the features registered (``on_commit``, ``on_rearm``, ``on_close``, ``on_finish``,
        #: ``on_successor``).
        self.acts: list[Callable[[Execution, Effects], None]] = []
        self.rearms: list[Callable[[ExecutionRecord, ExecutionState], None]] = []
        self.closers: list[Callable[[Transition], None]] = []
        self.finishers: list[Callable[[Transition], None]] = []
        self.successors: list[Callable[[Transition, Transition, dict[str, Any]], None]] = []
        #: Each feature's object, by its class, for the code of its own that has only the core (its command
        #: kinds, which are registered once for every engine).
        self.features: dict[type[Any], Any] = {}

        #: Signs task tokens. A key of this process's until ``_load_token_key`` puts the store's in
        #: place, before anything is handed out.
        self.tokens = TaskTokens(secrets.token_bytes(32))

    # --- what features register --------------------------------------------------------------------

    def on_commit(self, act: Callable[[Execution, Effects], None]) -> None:
        """Call ``act(ex, fx)`` after each durable transition: the feature acts on its part of ``fx``."""
        self.acts.append(act)

    def on_rearm(self, rearm: Callable[[ExecutionRecord, ExecutionState], None]) -> None:
        """Call ``rearm(rec, st)`` for each open run taken from the store (at start, after a failed
        write): the feature offers the tasks and arms the timers its part of the state calls for."""
        self.rearms.append(rearm)

    def on_close(self, closing: Callable[[Transition], None]) -> None:
        """Call ``closing(t)`` when a transition closes its run, before its pending items are dropped."""
        self.closers.append(closing)

    def feature(self, cls: type[F]) -> F:
        """The engine's object of feature ``cls`` (it put itself in ``features``)."""
        found: F = self.features[cls]
        return found

    def on_successor(self, inherit: Callable[[Transition, Transition, dict[str, Any]], None]) -> None:
        """Call ``inherit(t, nt, started)`` when the run ``t`` closes is followed by a new run of its workflow id,
        built by ``nt`` in the same commit (continue-as-new, a retry), before its WorkflowExecutionStarted is
        appended: the feature gives the new run what a chain of runs carries (a child's parent, the task
        timeout), in its state and in ``started``, that event's attributes."""
        self.successors.append(inherit)

    def on_finish(self, finish: Callable[[Transition], None]) -> None:
        """Call ``finish(t)`` as each transition ends, before it is committed: the feature may add to it
        whatever the transition's changes call for (it runs on every transition: keep it to a check)."""
        self.finishers.append(finish)

    async def _load_token_key(self) -> None:
        """Sign task tokens with the store's key, so those handed out before a restart still verify."""
        self.tokens = TaskTokens(await self.store.server_key(KEY_NAME))

    def _wt_token(self, rec: ExecutionRecord, wt: WorkflowTaskInfo, session_id: str) -> str:
        return self.tokens.make("w", rec.namespace, rec.run_id, wt.attempt, wt.started_event_id, session_id)

    def _activity_token(self, rec: ExecutionRecord, act: ActivityInfo, session_id: str) -> str:
        """The token of the activity's current attempt as handed to ``session_id``: the same string the
        worker got, which is how a worker told to stop an attempt knows which one (it matches them)."""
        return self.tokens.make("a", rec.namespace, rec.run_id, act.scheduled_event_id, act.attempt, session_id)

    def _check_holder(self, holder: str | None, token_session: str, caller: Session | None, what: str) -> None:
        """May ``caller`` report on a current task whose (genuine) token names ``token_session``?

        ``holder`` is the session the task is handed to now (None: to none, e.g. since a restart).
        A token is good from its session while that session holds the task; over HTTP (no caller
        session) from whoever has it, as the worker API lets a worker report without its session.
        A token whose session this server no longer knows, for a task nobody holds, is the report of
        a worker the server lost track of (it restarted, or the worker reconnected): still accepted,
        from whoever presents it, since only this server could have made it. Checked before anything
        changes, so a refusal leaves no trace.
        """
        if holder is not None and holder != token_session:
            raise NotFoundError(
                f"this {what} task is no longer current: it was handed to another worker since",
                code="task_not_found",
            )
        if caller is not None and caller.id != token_session and token_session in self.matching.sessions:
            raise PermissionDeniedError(
                f"this {what} task is held by another worker's session; only that worker may report on it",
                code="forbidden",
            )

    async def _load(self, run_id: str) -> Execution | None:
        ex = self._cache.get(run_id)
        metrics = self.metrics
        if ex is not None:
            self._cache.move_to_end(run_id)
            if metrics is not None:
                metrics.cache_hit()
            return ex
        if metrics is not None:
            metrics.cache_miss()
        if not self.store.owns(run_id):  # another server's (see "the store lock" in storage._base)
            return None
        rec = await self.store.get_run(run_id)
        if rec is None:
            return None
        ex = self._cache.get(run_id)  # another coroutine may have loaded it meanwhile
        if ex is not None:
            return ex
        st = self._state_of(rec)
        if st is None:
            return None
        ex = Execution(rec, st)
        self._cache[run_id] = ex
        self._trim_cache()
        return ex

    def _state_of(self, rec: ExecutionRecord) -> ExecutionState | None:
        """The run's state as stored; None if it cannot be read. Such a run is set aside: logged once,
        never loaded (its tasks and timers are not armed, nothing is written over its row), and
        described with its problem. One bad row is no reason to stop the server or fail a read."""
        problem = self.set_aside.get(rec.run_id)
        if problem is None:
            if rec.unreadable is None:
                try:
                    return ExecutionState.from_stored(rec.state, rec.pending)
                except UnreadableStateError as e:
                    problem = f"its stored state cannot be read: {e}"
            else:
                problem = f"its stored state cannot be read: {rec.unreadable}"
            if rec.status is WorkflowStatus.RUNNING:
                problem += "; the server does not run it (terminate it to close it)"
            self.set_aside[rec.run_id] = problem
            log.error("workflow %s (run %s) is set aside: %s", rec.workflow_id, rec.run_id, problem, extra=about(rec))
        return None

    def _trim_cache(self) -> None:
        """Forget the least recently used runs while the cache is over its size, in O(1) per call.

        A run that cannot be forgotten now (``pinned``, or a client waits for its result) is moved to
        the back instead: it is not looked at again before every other run has been, so however many
        runs are pinned, each call looks at a bounded number of entries. (Scanning past pinned runs
        on every call made a burst of thousands of awaited runs cost the loop O(cached) per load.)
        Called once per run added, a call forgets up to two, so a cache that pinned runs pushed over
        its size shrinks back as they come free. While pinned runs crowd it, unpinned ones are
        forgotten as they are met among them: the cache holds at most about one unpinned run per
        ``_TRIM_LOOK - 1`` pinned ones beyond its size.
        """
        cache = self._cache
        if self.touched is not None:  # called once per run added, which is the newest (see touched)
            self.touched.add(next(reversed(cache.values())))
        excess = len(cache) - self.config.execution_cache_size
        if excess <= 0:
            return
        evict = min(excess, _TRIM_EVICT)
        newest = next(reversed(cache))  # just added, and about to be used by its caller: kept
        for _ in range(_TRIM_LOOK):
            run_id, ex = next(iter(cache.items()))
            if run_id == newest:
                return
            if ex.pinned() or run_id in self._result_waiters:
                cache.move_to_end(run_id)
                continue
            del cache[run_id]
            if self.metrics is not None:
                self.metrics.evicted()
            evict -= 1
            if evict == 0:
                return

    async def _commit(self, ex: Execution, *, quiet: bool | None = None) -> None:
        """Write the transition in progress; on failure forget the execution (memory is now wrong).

        A run whose create is still being written waits for it first, so that a refused start refuses its
        first task's completion. A chained run (``Execution.chained``: its create rides on the write that
        closed the run before it) does not wait: its write is queued behind that one, which the store
        applies first, and fails the version check if that one failed. A continue-as-new loop then runs at
        the pace of its worker, its runs sharing group commits, instead of one commit's latency a run."""
        creating = ex.creating
        if creating is None or not ex.chained or creating.done():
            if creating is not None:
                await self._created(ex)
            await self._submit_commit(ex, quiet=quiet)
            return
        try:
            await self._submit_commit(ex, quiet=quiet)
        except ConditionFailedError:
            await self._created(ex)  # NotFoundError if the create was what failed, as unchained
            raise

    def _submit_commit(
        self, ex: Execution, *, quiet: bool | None = None, snapshot: bool = False
    ) -> asyncio.Future[None]:
        """Start writing the transition in progress; the future says when it is durable.

        Writes are applied in the order they are submitted, so the caller may release the lock
        before the write is done (``snapshot``: the record is copied, as the next transition changes
        it): the run's next transition then builds on this one, and its write, queued behind it,
        fails the version check if this one fails. That is how many completions of one run share
        one group commit instead of taking turns, each holding the lock through its own fsync.
        Whoever acts on the world for this transition still waits for the future first.
        """
        rec = ex.record
        expected = rec.version
        rec.version = expected + 1
        rec.state = ex.state.to_dict()  # the small core; each changed pending item is written alone
        puts, deletes, cleared = ex.state.take_changes()
        events, ex.events = ex.events, []
        written = dataclasses.replace(rec) if snapshot else rec
        write = ExecutionWrite(written, expected, events, put_items=puts, delete_items=deletes, clear_pending=cleared)
        follow = ex.follow_on
        if follow is not None:  # the next run's create, in the same commit (continue-as-new)
            write.follow_on, ex.follow_on = follow.write, None
            # Written by the store's thread, so the loop hands the next run's first task out meanwhile.
            quiet = False
        if ex.writing is not None or ex.creating is not None:
            # Behind a write still in flight (this run's last, or its create), never written at once on
            # this thread: it would be settled first, and the events of the two kept in the wrong order
            # (see _committed), or written before the run exists.
            quiet = False
        fut = self.store.submit(write, quiet=quiet)
        ex.writing = fut
        if self.touched is not None:
            self.touched.add(ex)
        if follow is not None:
            follow.submitted(fut)
        if fut.done():  # written at once: settled before the caller goes on (it may use the tail)
            self._committed(ex, events, fut)
        else:
            fut.add_done_callback(functools.partial(self._committed, ex, events))
        return fut

    def _committed(self, ex: Execution, events: list[HistoryEvent], fut: asyncio.Future[None]) -> None:
        """A write of ``ex`` is done: keep its events, or forget the copy that it was made from."""
        if ex.writing is fut:
            ex.writing = None
        e = asyncio.CancelledError() if fut.cancelled() else fut.exception()
        if e is None:
            if self.health.failures:
                self.health.succeeded()
            ex.remember(events)
            return
        if isinstance(e, StorageError) and not isinstance(e, ConditionFailedError):
            self.health.failed()
        self._lose(ex)

    def _lose(self, ex: Execution) -> None:
        """``ex`` is no longer the run's (a write of it failed, or a transition changed it and never
        committed): forget it, and reload the run from the store."""
        rec = ex.record
        if self._cache.get(rec.run_id) is ex:
            del self._cache[rec.run_id]
        if not ex.lost and not self.stopping:  # the first failure of this copy
            ex.lost = True
            self._spawn_restore(rec.run_id)
        ex.events = []
        # Operations already waiting for this copy's lock go on with it: make any write they try
        # fail the store's version check, rather than record a transition made on top of this
        # lost one (they fail, their callers retry, and the run is loaded afresh from the store).
        # Writes already submitted behind this one fail that check too (this one is not stored).
        rec.version = _POISONED

    def transition(self, ex: Execution) -> TransitionScope:
        """``async with core.transition(ex) as t``: lock ``ex``, change it, commit, act (``_transition``)."""
        return TransitionScope(self, ex)

    def _act(self, ex: Execution, fx: Effects) -> None:
        """Act on a durable transition: what each feature registered, then the waiters, then ``fx.then``."""
        for act in self.acts:
            act(ex, fx)
        if fx.closed:
            for f in self._result_waiters.pop(ex.record.run_id, []):
                if not f.done():
                    f.set_result(None)
        if fx.then:
            for action in fx.then:
                action()

    def _act_when_durable(self, ex: Execution, fx: Effects, fut: asyncio.Future[None]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self._act(ex, fx)

    async def _written(self, ex: Execution) -> None:
        """Wait until every write of ``ex`` submitted so far is done (whether it failed or not)."""
        writing = ex.writing
        if writing is not None:
            await asyncio.wait([writing])

    def _commit_behind(self, ex: Execution, fx: Effects) -> None:
        """Commit the transition in progress once the caller's answer has gone out, then apply ``fx``.

        The caller holds ``ex.lock`` and hands it over: it is released once the commit is done, so
        nothing else touches the execution before then. Used when the answer hands the worker
        activities it just scheduled: they run while the step is written instead of after it. An
        activity runs at least once anyway; if the step is lost with the server, the workflow
        schedules the same activity again on replay, as a retry would. Everything anyone else can
        see (results, queues, timers) still waits for the commit, and a worker's cached workflow
        that got ahead of a lost step is caught: its next report is refused and it drops that copy.

        On a worker's channel the commit starts after the answer's frame is written (``AFTER_ANSWER``),
        so a commit made on the event loop does not hold the answer back.
        """
        hook = AFTER_ANSWER.get()
        if hook is None:
            self._start_behind(ex, fx)
        else:
            hook(functools.partial(self._start_behind, ex, fx))

    def _start_behind(self, ex: Execution, fx: Effects) -> None:
        self._spawn_behind(self._finish_behind(ex, fx))

    def _spawn_behind(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` on its own; the server waits for it before it closes the store."""
        task = asyncio.get_running_loop().create_task(work)
        self._behind.add(task)
        task.add_done_callback(self._behind.discard)

    def _spawn_restore(self, run_id: str) -> None:
        """Reload the run from the store, after a while (``_restore``); dropped if the server stops
        first (a restart re-arms everything from the store anyway)."""
        task = asyncio.get_running_loop().create_task(self._restore(run_id))
        self._restores.add(task)
        task.add_done_callback(self._restores.discard)

    async def _finish_behind(self, ex: Execution, fx: Effects) -> None:
        try:
            # Nothing else to do (W3's one workflow): writing on the event loop saves two thread
            # wake-ups. Other operations under way: leave the loop to them and batch with theirs.
            await self._commit(ex, quiet=self.operations == 0)
            self._act(ex, fx)
        except Exception as e:
            self.repeats.error(
                "behind",
                "could not write a step of workflow run %s (its worker was answered ahead of the write): %s",
                ex.record.run_id,
                e,
            )
        finally:
            ex.lock.release()

    async def _drain_behind(self) -> None:
        """Wait for the commits still running behind answers (the server is stopping)."""
        while self._behind:
            await asyncio.gather(*self._behind, return_exceptions=True)
        for task in list(self._restores):
            task.cancel()
        await asyncio.gather(*self._restores, return_exceptions=True)

    @staticmethod
    async def _created(ex: Execution) -> None:
        """Wait until the write that creates ``ex`` is durable; NotFoundError if it failed."""
        creating = ex.creating
        if creating is None:
            return
        try:
            await asyncio.shield(creating)
        except Exception:
            raise NotFoundError("this workflow run was not created (its start failed)", code="not_found") from None

    async def _outcome(self, rec: ExecutionRecord, st: ExecutionState) -> tuple[Any, dict[str, Any] | None]:
        """(result, failure) of the run as committed in ``rec``/``st``: (None, None) while it runs. Read
        from the closing event (a run's last: nothing is appended once it closed), kept in ``st``.
        ``rec`` and ``st`` must be a committed view (see ``Engine._read``), or one that the caller
        copied from it: an outcome set by a close still being written is not yet the run's."""
        if rec.status is WorkflowStatus.RUNNING:
            return None, None
        if st.outcome is None:
            last = rec.next_event_id - 1
            events = await self.store.read_history(rec.run_id, last, last) if last > 0 else []
            st.outcome = outcome_of(events[0] if events else None, st.cancel_request)
        return st.outcome

    def _check_payload(self, what: str, value: Any) -> None:
        """Refuse ``value`` (a payload a client or worker sent) unless it can be stored as it is: 400 if
        it nests too deep or holds an integer beyond 64 bits, 413 if it is over the payload limit."""
        try:
            size = payload_size(value)
        except ValueError as e:
            raise InvalidArgumentError(f"{what} cannot be stored: {e}", code="invalid_payload") from None
        if size > self.max_payload:
            raise PayloadTooLargeError(self._too_large(what, size), code="payload_too_large")

    def _payload_problem(self, what: str, value: Any) -> str | None:
        """Why ``value`` cannot be stored, or None (for checks that report a problem, not raise it)."""
        try:
            size = payload_size(value)
        except ValueError as e:
            return f"{what} cannot be stored: {e}"
        return self._too_large(what, size) if size > self.max_payload else None

    def _too_large(self, what: str, size: int) -> str:
        return (
            f"{what} is {size:,} bytes, over the server's limit of {self.max_payload:,} bytes "
            "(--max-payload-size); store large data elsewhere and pass a reference"
        )

    async def _poll(
        self,
        session: Session,
        kind: Kind,
        take: Callable[[Session], Any],
        start: Callable[[Any, Session], Awaitable[dict[str, Any] | None]],
        wait: float,
    ) -> dict[str, Any] | None:
        """Long-poll: hand the session a ready task, or wait up to ``wait`` seconds for one."""
        deadline = time.monotonic() + min(wait, self.config.max_poll_wait.total_seconds())
        while not session.closed and not self.stopping:
            ref = take(session)
            if ref is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                waiter = self.matching.wait(session, kind)
                try:
                    ref = await asyncio.wait_for(asyncio.shield(waiter.future), timeout=remaining)
                except (TimeoutError, asyncio.CancelledError) as e:
                    # A task may have been handed over just as the poll ended: put it back.
                    if not waiter.future.done():
                        waiter.future.set_result(None)
                    else:
                        self.matching.give_back(waiter, kind)
                    if isinstance(e, asyncio.CancelledError):
                        raise
                    return None
                if ref is None:
                    continue
            try:
                task = await start(ref, session)
            except asyncio.CancelledError:
                # The poll was abandoned (its client went away) before the task was handed out.
                self.matching.requeue(session, kind, ref)
                raise
            if task is not None:
                return task
            if session.id not in self.matching.sessions:
                # The session ended while this poll held the task: it must not be lost.
                self.matching.requeue(session, kind, ref)
        return None

    async def _poll_many(
        self,
        session: Session,
        kind: Kind,
        take: Callable[[Session], Any],
        start: Callable[[Any, Session], Awaitable[dict[str, Any] | None]],
        wait: float,
        most: int,
    ) -> list[dict[str, Any]]:
        """Like ``_poll``, but the answer also carries up to ``most - 1`` more tasks that are ready
        now. A worker that polls with all its free slots at once moves a backlog (say, the first
        workflow tasks of a thousand new runs) in a few round trips instead of one per task."""
        first = await self._poll(session, kind, take, start, wait)
        if first is None:
            return []
        tasks = [first]
        while len(tasks) < most and not session.closed:
            ref = take(session)
            if ref is None:
                break
            try:
                task = await start(ref, session)
            except asyncio.CancelledError:
                self.matching.requeue(session, kind, ref)
                raise
            except Exception as e:
                # The tasks already started must still reach the worker; this one waits for a poll.
                if isinstance(e, StorageError):  # the store fails (a full disk): expected, no traceback
                    self.repeats.error("hand out", "handing out a %s task failed; it stays queued: %s", kind, e)
                else:
                    log.exception("handing out a %s task failed; it stays queued", kind)
                self.matching.requeue(session, kind, ref)
                break
            if task is not None:
                tasks.append(task)
            elif session.id not in self.matching.sessions:
                self.matching.requeue(session, kind, ref)
        return tasks

    # --- finding runs ---------------------------------------------------------------------------------

    def check_namespace(self, namespace: str) -> None:
        if namespace not in self._namespaces:
            raise NotFoundError(
                f"namespace {namespace!r} does not exist; known: {', '.join(sorted(self._namespaces))}",
                code="namespace_not_found",
                details={"namespace": namespace},
            )

    async def _find(self, namespace: str, workflow_id: str, run_id: str | None) -> ExecutionRecord:
        self.check_namespace(namespace)
        if run_id:
            ex = self._cache.get(run_id)
            if ex is not None and ex.record.namespace == namespace and ex.record.workflow_id == workflow_id:
                return ex.record
        rec = await self.store.get_execution(namespace, workflow_id, run_id or None)
        if rec is None:
            what = f"workflow {workflow_id!r}" + (f" run {run_id}" if run_id else "")
            raise NotFoundError(f"{what} not found in namespace {namespace!r}", code="not_found")
        ex = self._cache.get(rec.run_id)
        return ex.record if ex is not None else rec

    async def _execution(
        self, namespace: str, workflow_id: str, run_id: str | None, *, action: str, even_set_aside: bool = False
    ) -> Execution:
        rec = await self._find(namespace, workflow_id, run_id)
        ex = await self._load(rec.run_id)
        problem = self.set_aside.get(rec.run_id)
        if ex is None and problem is not None:
            if not even_set_aside:
                raise _not_running(rec, f"is set aside: {problem}", action)
            # Terminating it is how an operator closes it: what it held is unreadable, so nothing of it
            # is kept but its history and the termination.
            ex = self._cache.get(rec.run_id)
            if ex is None:
                ex = self._cache[rec.run_id] = Execution(rec, ExecutionState())
        if ex is None:
            raise NotFoundError(
                f"workflow {workflow_id!r} run {rec.run_id} not found in namespace {namespace!r}",
                code="not_found",
            )
        if not run_id:
            # The workflow id's current run: the store's newest may have been continued since (continue-as-new).
            while not ex.running and ex.successor is not None and self._cache.get(ex.successor.record.run_id):
                ex = ex.successor
        return ex

    @staticmethod
    def _check_running(ex: Execution, action: str) -> None:
        if not ex.running:
            raise _not_running(ex.record, f"is not running: it is {ex.record.status.value}", action)

    # --- taking runs from the store --------------------------------------------------------------------

    def _rearm(self, rec: ExecutionRecord, st: ExecutionState) -> None:
        """Offer the tasks and arm the timers a stored state calls for, feature by feature. Offering
        one twice does no harm: a task handed out is checked against the run's state first."""
        for rearm in self.rearms:
            rearm(rec, st)

    async def _restore(self, run_id: str) -> None:
        """After a failed commit: go on from the run's stored state, as after a restart. What the lost
        transition offered or armed is gone with it, and what it replaced (an activity handed out,
        stored as still to run) is in no queue.

        Not at once: while the store keeps failing (a full disk), re-armed work would fail again at
        once, in a loop. It waits ``health.delay`` (longer with each failure in a row) first."""
        reads = 0
        while True:
            await asyncio.sleep(max(self.health.delay, min(0.1 * 2**reads, 5.0) if reads else 0.0))
            try:
                rec = await self.store.get_run(run_id)
                break
            except Exception as e:
                self.repeats.error("reload", "could not reload workflow run %s after a failed write: %s", run_id, e)
                reads = min(reads + 1, 16)
        if rec is None or rec.status is not WorkflowStatus.RUNNING:
            return
        st = self._state_of(rec)
        if st is not None:
            self._rearm(rec, st)


def _not_running(rec: ExecutionRecord, why: str, action: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"workflow {rec.workflow_id!r} (run {rec.run_id}) {why}; only a running workflow can be {action}",
        code="not_running",
        details={"run_id": rec.run_id, "status": rec.status.value},
    )
