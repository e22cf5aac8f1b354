"""The worker: a session with the server, pollers for workflow and activity tasks, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import os
import signal
import socket
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Executor
from datetime import timedelta
from typing import Any, cast

from .._answers import NOT_MAINSPRING, TOKEN_EXPIRED
from ..activity import ActivityDefinition, ActivityFunction
from ..activity import get_definition as get_activity_definition
from ..api.enums import CommandType, EventType, VersioningBehavior
from ..api.names import check_id
from ..client import Client
from ..client._channel import Channel
from ..errors import RPCError, ServerUnavailableError, TLSError, UnauthenticatedError
from ..interceptors import Call, CallKind, Interceptor
from ..workflow import WorkflowDefinition, WorkflowFunction, get_definition
from ..workflow._deadlock import DeadlockWatchdog
from ..workflow._instance import WorkflowInstance
from ._activities import ActivityRunner
from ._failure_types import with_failure_types
from ._local_activities import HEARTBEAT_AT, wait_local_activities
from ._processes import SharedStateManager
from ._queries import spawn_query
from ._workflows import (
    FailureLog,
    TaskOutcome,
    WorkflowCache,
    continue_workflow,
    process_workflow_task,
    replay_instance,
    resume_local,
    server_lead,
)

__all__ = ["Worker"]

log = logging.getLogger("mainspring.worker")

_POLL_WAIT = 30.0
#: At most this many activities are asked for with each completion (taken from free slots).
_EAGER_MAX = 8
#: At most this many tasks asked for in one poll.
_POLL_MOST = 16
_SCHEDULE_ACTIVITY = CommandType.SCHEDULE_ACTIVITY.value
_CONTINUE_AS_NEW = CommandType.CONTINUE_AS_NEW_WORKFLOW.value
#: A long history is fetched in chunks of this many events (a page each, as the server bounds them),
#: this many chunks at a time: one page after another, the round trips dominated (75,000 events in
#: 75 sequential pages) while the server, its store reads and the socket sat mostly idle.
_HISTORY_CHUNK = 1000
_HISTORY_PAGES_IN_FLIGHT = 4
_WT_STARTED = EventType.WORKFLOW_TASK_STARTED.value


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _next_ask(ask: int, asked: int, got: int) -> int:
    """How many tasks a poller asks for next: twice as many after a full answer (there is a backlog),
    one after a short one. A poll holds a slot for every task it asks for while it waits, so an idle
    worker's pollers must not sit on slots that eager activities and other tasks could use."""
    return min(_POLL_MOST, max(ask, asked) * 2) if got >= asked else 1


class _Slots:
    """How many more activities this worker may run at once."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._changed = asyncio.Event()

    def try_take(self, most: int) -> int:
        taken = max(0, min(most, self.free))
        self.free -= taken
        return taken

    async def take(self) -> None:
        while self.free <= 0:
            self._changed.clear()
            await self._changed.wait()
        self.free -= 1

    def give(self, count: int = 1) -> None:
        if count > 0:
            self.free += count
            self._changed.set()


class Worker:
    """Polls one task queue and runs the workflows and activities it was given.

    ``await worker.run()`` runs until SIGINT or SIGTERM (or ``shutdown()``): it then stops taking
    tasks, lets running activities finish (up to ``graceful_shutdown_timeout``, or until a second
    signal), and ends its session so the server hands anything left to other workers at once. While
    the server is unreachable the worker keeps retrying with backoff.

    ``activities`` are functions decorated with ``@activity.defn``, or such methods of an instance
    (``repo.save``: run on that instance). ``activity_executor`` runs the plain ``def`` ones: by default
    each gets a daemon thread; a ``ThreadPoolExecutor`` of your own, or a ``ProcessPoolExecutor``
    (its activities must be picklable module-level functions; their heartbeats and cancellation reach
    across, see ``_processes``; ``shared_state_manager`` may give the ``multiprocessing`` manager they use,
    as in Temporal, else the worker starts one). The executor is yours to shut down.
    ``activities`` are also what its workflows may run as local activities (``ctx.execute_local_activity``),
    in this process, within their workflow tasks, at most ``max_concurrent_local_activities`` at once.
    ``deadlock_detection_timeout``: workflow code that runs this long without yielding (a busy loop) is
    interrupted, and its workflow task fails with ``DeadlockError`` saying where it was (Temporal's
    "potential deadlock detected", 2 s too); None turns this off (for stepping through code in a debugger).
    ``workflow_failure_exception_types``: exception classes
    that fail any of its workflows (or an update) when the workflow's code raises one, besides each
    workflow's own ``@workflow.defn(failure_exception_types=...)``; by default such an exception fails only
    the workflow task, which is retried.
    ``interceptors``: called around its workflow runs and activities, after those of its client's
    (``mainspring.interceptors``; ``mainspring.contrib.opentelemetry.TracingInterceptor``).
    """

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str,
        # A class workflow is its class (``@workflow.defn`` leaves it a class: checked when the worker is made).
        workflows: Sequence[WorkflowFunction[..., Any] | type[Any]] = (),
        activities: Sequence[ActivityFunction[..., Any]] = (),
        max_concurrent_workflow_tasks: int = 50,
        max_concurrent_activities: int = 100,
        max_concurrent_local_activities: int = 100,
        max_cached_workflows: int = 1000,
        identity: str | None = None,
        graceful_shutdown_timeout: timedelta = timedelta(seconds=10),
        deterministic_guard: bool = True,
        deadlock_detection_timeout: timedelta | None = timedelta(seconds=2),
        activity_executor: Executor | None = None,
        workflow_failure_exception_types: Sequence[type[Exception]] = (),
        shared_state_manager: SharedStateManager | None = None,
        build_id: str | None = None,
        versioning: VersioningBehavior | None = None,
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        problem = check_id("task queue", task_queue)
        if problem:
            raise ValueError(problem)
        if not workflows and not activities:
            raise ValueError("a worker needs at least one workflow or activity")
        if build_id is not None:
            problem = check_id("build id", build_id)
            if problem:
                raise ValueError(problem)
        elif versioning is not None:
            raise ValueError("versioning= needs a build_id=: it says how runs stay on or move between builds")
        self.client = client
        self.task_queue = task_queue
        self.identity = identity or f"{os.getpid()}@{socket.gethostname()}"
        #: The build of this worker's code (``features.versioning`` on the server), and the behavior of the
        #: runs it starts unless a workflow's ``@workflow.defn(versioning_behavior=)`` says otherwise.
        self.build_id = build_id
        self.versioning = VersioningBehavior(versioning) if versioning is not None else None
        # When this worker started: the server sends new runs to the build of the newest worker.
        self._started_at = time.time()
        self._workflows: dict[str, WorkflowDefinition] = {}
        for fn in workflows:
            d = get_definition(fn)
            if d.name in self._workflows:
                raise ValueError(f"two workflows are named {d.name!r}")
            self._workflows[d.name] = d
        if workflow_failure_exception_types:
            self._workflows = with_failure_types(self._workflows, workflow_failure_exception_types)
        self._activities: dict[str, ActivityDefinition] = {}
        for afn in activities:
            a = get_activity_definition(afn)
            # Typed as an ActivityFunction, which a bound method (a MethodType) never is to mypy.
            if a.is_method and not inspect.ismethod(cast(Any, afn)):
                raise ValueError(
                    f"activity {a.name!r} is a method of a class: give the worker the method of an instance "
                    f"(Worker(activities=[instance.{afn.__name__}])), which it runs on that instance"
                )
            if a.name in self._activities:
                raise ValueError(f"two activities are named {a.name!r}")
            self._activities[a.name] = a
        self.max_concurrent_workflow_tasks = max_concurrent_workflow_tasks
        self.max_concurrent_activities = max_concurrent_activities
        if max_concurrent_local_activities < 1:
            raise ValueError(
                f"max_concurrent_local_activities must be 1 or more, got {max_concurrent_local_activities}"
            )
        #: Local activity attempts running at once, across the worker's workflows (Temporal's option).
        self._local_slots = asyncio.Semaphore(max_concurrent_local_activities)
        self.graceful_shutdown_timeout = graceful_shutdown_timeout.total_seconds()
        self.deterministic_guard = deterministic_guard
        #: Interrupts workflow code that runs longer than this without yielding (``workflow._deadlock``).
        #: Where this worker's metrics go (its client's runtime: ``mainspring.runtime``), or None.
        runtime = getattr(client, "runtime", None)
        #: Its client's interceptors (``mainspring.interceptors``), then its own (``interceptors=``, as
        #: Temporal's ``Worker`` takes them): around its runs and activities.
        self._interceptors: tuple[Interceptor, ...] = (*getattr(client, "interceptors", ()), *interceptors)
        self._metrics = runtime.metrics if runtime is not None else None
        self._watchdog = (
            DeadlockWatchdog(deadlock_detection_timeout.total_seconds())
            if deadlock_detection_timeout is not None
            else None
        )
        self.cache = WorkflowCache(max_cached_workflows)
        self._failures = FailureLog()
        #: Refusals at a server limit already logged (the server retries such a task; see _report).
        self._limits_logged: OrderedDict[str, None] = OrderedDict()
        self._max_payload = 2 * 1024 * 1024
        #: Where plain ``def`` activities run: None, each on a daemon thread of its own (at most
        #: ``max_concurrent_activities`` at once); or the executor given (a ``ProcessPoolExecutor`` too).
        self.activity_executor = activity_executor
        self._runner = ActivityRunner(
            self._activities,
            lambda: self._max_payload,
            max_concurrent_activities,
            activity_executor,
            shared_state_manager,
        )
        self._channel: Channel | None = None
        self._session_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        #: Set by a second SIGINT/SIGTERM: stop without waiting for running work.
        self._abandon = asyncio.Event()
        #: Why the worker cannot run at all (what answers at the address is not a Mainspring server):
        #: raised by ``run()`` once it has stopped.
        self._fatal: ServerUnavailableError | None = None
        self._activity_tasks: set[asyncio.Task[None]] = set()
        self._wt_tasks: set[asyncio.Task[None]] = set()
        self._wt_slots = asyncio.Semaphore(max_concurrent_workflow_tasks)
        self._ready = asyncio.Event()
        self._slots = _Slots(max_concurrent_activities)
        self._run_locks: dict[str, list[Any]] = {}
        self._query_tasks: set[asyncio.Task[None]] = set()
        #: Runs whose workflow task is done here and whose completion is being reported.
        self._reporting: set[str] = set()
        #: ``run()`` started by ``async with``: it leaves SIGINT/SIGTERM to the program.
        self._run_task: asyncio.Task[None] | None = None
        self._own_signals = True

    # ================================================================================================
    # Lifecycle
    # ================================================================================================

    async def __aenter__(self) -> Worker:
        """``async with Worker(...) as worker:`` runs the worker while the block runs (Temporal's habit).

        It returns once the worker is polling (or raises why it cannot run); leaving the block shuts it
        down gracefully and waits for it. Signals are the program's: Ctrl-C interrupts the block, which
        then stops the worker, rather than stopping only the worker.
        """
        if self._run_task is not None:
            raise RuntimeError("this worker is running already")
        self._own_signals = False
        task = self._run_task = asyncio.get_running_loop().create_task(self.run(), name=f"worker {self.task_queue}")
        ready = asyncio.ensure_future(self._ready.wait())
        try:
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if task.done():
            self._run_task = None
            task.result()  # why it ended before polling (not a Mainspring server, say)
            raise RuntimeError("the worker stopped before it was ready")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        task, self._run_task = self._run_task, None
        if task is None:
            return
        self.shutdown()
        await task

    @property
    def ready(self) -> asyncio.Event:
        """Set once the worker has a session with the server and is polling."""
        return self._ready

    def shutdown(self) -> None:
        """Ask ``run()`` to stop gracefully."""
        self._stopping.set()

    def slot_counts(self) -> dict[str, tuple[int, int]]:
        """(free, size) of this worker's slots, by kind of task (the runtime's metrics read them)."""
        counts: dict[str, tuple[int, int]] = {}
        if self._workflows:
            counts["WorkflowWorker"] = (self._wt_slots._value, self.max_concurrent_workflow_tasks)
        if self._activities:
            counts["ActivityWorker"] = (self._slots.free, self.max_concurrent_activities)
        return counts

    async def run(self) -> None:
        """Run until SIGINT/SIGTERM or ``shutdown()``; a second signal stops at once, abandoning running work.

        Raises ``ServerUnavailableError`` (code ``not_mainspring``) if what answers at the client's
        address is not a Mainspring server (Temporal's dev server on the same port, say): retrying
        would not help. An unreachable server, by contrast, is retried until it comes back.
        """
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        for sig in (signal.SIGINT, signal.SIGTERM) if self._own_signals else ():
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals
                pass
        pollers: list[asyncio.Task[None]] = []
        if self._watchdog is not None:
            self._watchdog.start()
        if self._metrics is not None:
            self._metrics.add(self)
        try:
            await self._connect(None)
            if self._stopping.is_set():
                return
            if self._workflows:
                for i in range(min(2, self.max_concurrent_workflow_tasks)):
                    pollers.append(loop.create_task(self._poll_workflow_tasks(), name=f"mainspring-wt-poller-{i}"))
            if self._activities:
                for i in range(min(4, self.max_concurrent_activities)):
                    pollers.append(loop.create_task(self._poll_activity_tasks(), name=f"mainspring-act-poller-{i}"))
            self._ready.set()
            log.info(
                "worker %s polling task queue %r at %s (workflows: %s; activities: %s)",
                self.identity,
                self.task_queue,
                self.client.address,
                ", ".join(self._workflows) or "none",
                ", ".join(self._activities) or "none",
            )
            await self._stopping.wait()
        finally:
            try:
                # The handlers stay while running work finishes: a second Ctrl-C then cuts it short
                # (_on_signal), where Python's default would raise KeyboardInterrupt into the loop.
                await self._stop(pollers)
            finally:
                for sig in installed:
                    loop.remove_signal_handler(sig)
                if self._watchdog is not None:
                    self._watchdog.stop()
                if self._metrics is not None:
                    self._metrics.remove(self)
            if self._fatal is not None:
                raise self._fatal

    def _on_signal(self, sig: signal.Signals) -> None:
        if self._abandon.is_set():
            return
        if self._stopping.is_set():
            self._abandon.set()
            return
        log.info("%s received: finishing running activities, then stopping (again to stop at once)", sig.name)
        self._stopping.set()

    async def _wait_running(self, running: set[asyncio.Task[None]]) -> set[asyncio.Task[None]]:
        """Wait for ``running`` up to the graceful timeout, or until told to stop at once; what is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.graceful_shutdown_timeout
        pending = set(running)
        abandon = loop.create_task(self._abandon.wait())
        try:
            while pending and not self._abandon.is_set():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                done, _ = await asyncio.wait(
                    pending | {abandon}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                pending -= done
        finally:
            abandon.cancel()
        return pending

    async def _stop(self, pollers: list[asyncio.Task[None]]) -> None:
        """Stop polling, let running tasks finish (activities up to the graceful timeout), end the session.

        The channel stays open while running work finishes: it is the session, and closing it would
        make the server hand that work to other workers while it still runs here.
        """
        self._stopping.set()
        for t in pollers:
            t.cancel()
        await asyncio.gather(*pollers, return_exceptions=True)
        running = self._wt_tasks | self._activity_tasks
        if running:
            pending = await self._wait_running(running)
            activities = len(pending & self._activity_tasks)
            for t in pending:
                t.cancel()
            what = _count(activities, "activity", "activities")
            if len(pending) > activities:
                what += " and " + _count(len(pending) - activities, "workflow task", "workflow tasks")
            if pending and self._abandon.is_set():
                log.warning("stopped at once: %s abandoned; the server hands them to other workers", what)
            elif pending:
                log.warning("%s did not finish in time; the server will run them again", what)
            if pending:
                await asyncio.wait(pending, timeout=1)
        for q in self._query_tasks:  # a query still being answered: its caller hears the channel closed
            q.cancel()
        if self._channel is not None:
            # Ending the session hands anything still recorded against it to other workers at once.
            await self._channel.close(graceful=True)
            self._channel = None
        self._runner.shutdown()

    # ================================================================================================
    # The session: one channel (WebSocket) to the server
    # ================================================================================================

    def _versioning_of(self, d: WorkflowDefinition) -> dict[str, Any]:
        if self.build_id is None:
            return {}
        behavior = d.versioning_behavior or self.versioning or VersioningBehavior.AUTO_UPGRADE
        return {"versioning_behavior": behavior.value}

    async def _connect(self, broken: Channel | None) -> Channel | None:
        """The open channel; opens a new one (a new session) if there is none or ``broken`` is it.

        Retries with backoff while the server is unreachable; None once the worker is stopping.
        """
        async with self._session_lock:
            current = self._channel
            if current is not None and current is not broken and not current.closed.is_set():
                return current
            registration: dict[str, Any] = {
                "identity": self.identity,
                "task_queue": self.task_queue,
                "workflow_types": [
                    {
                        "name": d.name,
                        "input_schema": d.input_schema(),
                        **({"handlers": d.announce_handlers()} if d.cls is not None else {}),
                        **self._versioning_of(d),
                    }
                    for d in self._workflows.values()
                ],
                "activity_types": list(self._activities),
            }
            if self.build_id is not None:
                registration["build_id"] = self.build_id
                registration["started_at"] = self._started_at
            delay = 0.1
            tries = 0
            while not self._stopping.is_set():
                channel = Channel(self.client.transport, f"/api/v1/namespaces/{self.client.namespace}/workers/connect")
                try:
                    session = await channel.open(registration)
                except UnauthenticatedError as e:
                    await channel.close(graceful=False)
                    if e.code != TOKEN_EXPIRED or not self._ready.is_set():
                        raise
                    # The channel was closed as its token expired, and the client's key is that token still:
                    # the program renews it (``client.api_key = ...``) in its own time; until then, wait.
                    log.warning("%s: set client.api_key to a fresh token; retrying in %.1fs", e.message, delay)
                    await self._sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                except ServerUnavailableError as e:
                    await channel.close(graceful=False)
                    # Retrying would not help: the address is wrong, or another server holds the port; or, before
                    # the first session, TLS is set up wrong (a worker that was connected retries instead: the
                    # server's certificate may be in the middle of being replaced).
                    if e.code == NOT_MAINSPRING or (isinstance(e, TLSError) and not self._ready.is_set()):
                        log.error("%s; the worker stops", e.message)
                        self._fatal = e
                        self._stopping.set()
                        await self.client.transport.close()
                        return None
                    # With several addresses, the next one is tried at once; a pause after each full round.
                    self.client.transport.failed(channel.address)
                    tries += 1
                    if self.client.transport.round_done(tries):
                        log.warning("%s; retrying in %.1fs", e.message, delay)
                        await self._sleep(delay)
                        delay = min(delay * 2, 5.0)
                    else:
                        log.warning("%s; trying %s", e.message, self.client.transport.address)
                    continue
                self._channel = channel
                channel.on_message = functools.partial(self._on_server_message, channel)
                self._max_payload = int(session["max_payload_bytes"])
                if broken is not None:
                    log.info("reconnected to the server at %s", self.client.address)
                return channel
            return None

    def _on_server_message(self, channel: Channel, message: dict[str, Any]) -> None:
        """A message the server sent on its own initiative."""
        op = message.get("op")
        body = message.get("b") or {}
        if op == "cancel_activity":
            # The workflow cancelled the activity, or closed: stop the attempt; it reports back cancelled.
            self._runner.cancel(str(body.get("task_token")))
        elif op == "stack":
            channel.send({"q": message.get("q"), "ok": self._stack(str(body.get("run_id")))})
        elif op == "query" and "q" in message:
            spawn_query(self, channel, message["q"], body)
        elif "q" in message:
            error = {"status": 400, "code": "unknown_op", "message": f"this worker does not know {op!r}"}
            channel.send({"q": message["q"], "err": error})

    def _stack(self, run_id: str) -> dict[str, Any]:
        """Where each coroutine of a cached workflow waits (for the web UI and ``workflow stack``)."""
        inst = self.cache.peek(run_id)
        if inst is None:
            return {"coroutines": [], "message": f"worker {self.identity} no longer holds this workflow in memory"}
        coroutines = inst.stack()
        if not coroutines:
            return {"coroutines": [], "message": "the workflow's code has finished"}
        return {"coroutines": coroutines, "message": None}

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _poll(self, op: str, timeout: float, most: int) -> list[dict[str, Any]]:
        """A poll for up to ``most`` tasks: retried across server restarts and reconnections; empty
        when it timed out or the worker is stopping."""
        delay = 0.1
        metrics = self._metrics
        while not self._stopping.is_set():
            channel = await self._connect(None)
            if channel is None:
                return []
            try:
                t0 = time.perf_counter()
                answer = await channel.call(op, {"timeout": timeout, "max_tasks": most}, timeout=timeout + 15)
                if metrics is not None:
                    kind = "WorkflowWorker" if op.startswith("poll_workflow") else "ActivityWorker"
                    metrics.poll.labels(kind, self.task_queue).observe(time.perf_counter() - t0)
                return list(answer["tasks"])
            except UnauthenticatedError as e:
                if e.code != TOKEN_EXPIRED:
                    raise
                # Refused as the channel's token expired (the server closes the channel too): a new channel,
                # with the client's key as it is now.
                await channel.close(graceful=False)
                await self._connect(channel)
            except ServerUnavailableError as e:
                if channel.closed.is_set():
                    await self._connect(channel)
                    continue
                log.warning("%s; retrying in %.1fs", e.message, delay)
                await self._sleep(delay)
                delay = min(delay * 2, 5.0)
        return []

    async def _report(self, op: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Send a task outcome, retrying while the server is unreachable; the answer, or None if refused."""
        delay = 0.1
        while True:
            channel = self._channel
            try:
                if channel is None or channel.closed.is_set():
                    if self._stopping.is_set() and channel is None:
                        return None
                    channel = await self._connect(channel)
                    if channel is None:
                        return None
                answer = await channel.call(op, body, timeout=30)
                return answer if isinstance(answer, dict) else {}
            except ServerUnavailableError as e:
                if self._stopping.is_set() and delay >= 5.0:
                    log.warning("giving up reporting a task outcome: %s", e.message)
                    return None
                log.warning("%s; retrying in %.1fs", e.message, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except RPCError as e:
                if e.code == TOKEN_EXPIRED and channel is not None:
                    # Refused before it was done (the channel's token expired): sent again on a new channel,
                    # with the client's key as it is now.
                    await channel.close(graceful=False)
                    continue
                if e.code == "task_not_found":
                    # Expected after a cancel, a timeout or a hand-over: the task moved on without us.
                    log.debug("the server refused a task outcome: %s", e.message)
                elif e.code != "limit_exceeded":
                    log.warning("the server refused a task outcome: %s", e.message)
                elif e.message not in self._limits_logged:
                    # The server retries the task (with backoff) until the limit is raised: once is enough.
                    self._limits_logged[e.message] = None
                    if len(self._limits_logged) > 1000:
                        self._limits_logged.popitem(last=False)
                    log.error("a workflow task was refused at a server limit (it is retried): %s", e.message)
                return None

    # ================================================================================================
    # Workflow tasks
    # ================================================================================================

    async def _poll_workflow_tasks(self) -> None:
        # A poller does not wait for the task it received to finish before polling again: a workflow
        # task's completion waits for a commit, and with one task per poller at a time, the commit
        # latency capped how many workflows a worker could move (W2 went from ~250 to ~350 workflows/s).
        # The slots bound how many run at once.
        # While there is a backlog, a poll asks for several tasks (see _next_ask): after a burst of
        # starts, two pollers asking for one task each moved only ~400 first workflow tasks a second.
        slots = self._wt_slots
        ask = 1
        while not self._stopping.is_set():
            await slots.acquire()
            held = 1
            while held < ask and not slots.locked():
                await slots.acquire()  # free, so it does not wait
                held += 1
            try:
                tasks = await self._poll("poll_workflow_tasks", _POLL_WAIT, held)
                ask = _next_ask(ask, held, len(tasks))
                for task in tasks:
                    # Its own task: a shutdown stops the poll, but a task already received is finished
                    # and reported (it is quick), rather than left for the server to take back (_stop).
                    self._spawn_workflow_task(task)
                    held -= 1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("workflow task poller error; continuing")
                await self._sleep(1.0)
            finally:
                for _ in range(held):
                    slots.release()

    def _spawn_workflow_task(self, task: dict[str, Any]) -> None:
        """Run ``task`` as its own asyncio task, on a workflow task slot the caller took (released at its end)."""
        t = asyncio.get_running_loop().create_task(self._run_workflow_task(task))
        self._wt_tasks.add(t)
        t.add_done_callback(self._workflow_task_done)

    async def _next_run_slot(self, task: dict[str, Any], commands: list[dict[str, Any]]) -> bool:
        """Take a workflow task slot for the first task of the run ``commands`` continue as new into, if this
        worker runs it (its type, on this task queue) and a slot is free: the completion's answer then
        brings that task (``want_next_run_task``), with no poll in between."""
        if not commands or self._stopping.is_set():
            return False
        last = commands[-1]
        if last["type"] != _CONTINUE_AS_NEW or last.get("task_queue") not in (None, self.task_queue):
            return False
        if (
            task["task_queue"] != self.task_queue
            or (last.get("workflow_type") or task["workflow_type"]) not in self._workflows
        ):
            return False
        slots = self._wt_slots
        if slots.locked():
            return False
        return await slots.acquire()  # free: taken at once

    def _workflow_task_done(self, t: asyncio.Task[None]) -> None:
        self._wt_tasks.discard(t)
        self._wt_slots.release()

    async def _run_workflow_task(self, task: dict[str, Any]) -> None:
        try:
            await self._handle_workflow_task(task)
        except Exception:
            log.exception("error running a workflow task of %s; the server will retry it", task.get("workflow_id"))

    async def _handle_workflow_task(self, task: dict[str, Any]) -> None:
        received = asyncio.get_running_loop().time()
        async with self._run_lock(task["run_id"]):
            if self._metrics is None:
                await self._handle_workflow_task_locked(task, received)
                return
            t0 = time.perf_counter()
            try:
                await self._handle_workflow_task_locked(task, received)
            finally:
                self._metrics.workflow_task.labels(self.task_queue, str(task.get("workflow_type"))).observe(
                    time.perf_counter() - t0
                )

    async def _handle_workflow_task_locked(self, task: dict[str, Any], received: float | None = None) -> None:
        run_id = task["run_id"]
        history: list[dict[str, Any]] = task["history"]
        first = task["first_event_id"]
        replayed: WorkflowInstance | None = None
        replay_error: Exception | None = None
        if first > 1 and task["workflow_type"] in self._workflows:
            inst = self.cache.get(run_id)
            have = inst.last_event_id if inst is not None and inst.last_event_id < first else 0
            if have != first - 1:
                # The task left out events this worker has not seen: it is not cached here (evicted, or
                # another worker ran it last), or the history is longer than a task carries.
                if have == 0:
                    self.cache.evict(run_id)
                    inst = None
                fetched = await self._fetch_and_replay(task, inst, have + 1, first - 1)
                if fetched is None:
                    if inst is not None:
                        self.cache.evict(run_id)  # it may have been fed part of the history
                    return  # the server is gone or refused: the task will be handed out again
                replayed, rest, replay_error = fetched
                history = rest + history
                task = {**task, "first_event_id": have + 1}
        outcome = process_workflow_task(
            task,
            history,
            self._workflows,
            self.cache,
            guard=self.deterministic_guard,
            watchdog=self._watchdog,
            task_queue=self.task_queue,
            replayed=replayed,
            replay_error=replay_error,
            failures=self._failures,
            interceptors=self._interceptors,
        )
        if outcome.local is not None:
            outcome = await self._run_local_activities(task, outcome, received)
        token = task["task_token"]
        if outcome.cause is not None:
            await self._report(
                "fail_workflow_task",
                {"task_token": token, "cause": outcome.cause.value, "failure": outcome.failure},
            )
            return
        commands = outcome.commands or []
        slots = self._slots.try_take(self._eager_wanted(commands)) if outcome.keep else 0
        report: dict[str, Any] = {
            "task_token": token,
            "commands": outcome.commands,
            "sticky": outcome.keep,
            "eager_activity_slots": slots,
        }
        if outcome.rejected_updates:
            report["rejected_updates"] = outcome.rejected_updates
        if outcome.force_new_task:
            report["force_new_task"] = True
        next_slot = await self._next_run_slot(task, commands)
        if next_slot:
            report["want_next_run_task"] = True
        # While the completion is on its way, the cached copy rests at the state the task left: a query may
        # read it without waiting for the answer (``_queries``).
        self._reporting.add(run_id)
        try:
            answer = await self._report("complete_workflow_task", report)
        except BaseException:
            if next_slot:
                self._wt_slots.release()
            raise
        finally:
            self._reporting.discard(run_id)
        nxt = answer.get("next_run_task") if answer is not None else None
        if nxt is not None and not self._stopping.is_set():
            self._spawn_workflow_task(nxt)  # on the slot taken for it
        elif next_slot:
            # (Stopping: not run here. The session's end hands it to another worker, as a task held then is.)
            self._wt_slots.release()
        if answer is None:
            self._slots.give(slots)
            self.cache.evict(run_id)
            return
        self._catch_up(run_id, answer.get("events") or [])
        self._start_eager(answer.get("activity_tasks") or [], slots, commands)

    async def _run_local_activities(
        self, task: dict[str, Any], outcome: TaskOutcome, received: float | None
    ) -> TaskOutcome:
        """Run the local activities the workflow waits for, within its task (``_local_activities``), and the
        code on after them, until it waits for something else; or until 80% of the task's timeout, when
        the task is completed with what it has and the next one asked for."""
        loop = asyncio.get_running_loop()
        deadline = (loop.time() if received is None else received) + HEARTBEAT_AT * float(
            task.get("task_timeout") or 10.0
        )
        while outcome.local is not None:
            inst = outcome.local
            results = await wait_local_activities(
                self._runner, inst, deadline, self._local_slots, self._run_intercepted if self._interceptors else None
            )
            outcome = resume_local(outcome, results, task, self.cache, self._failures)
            if outcome.force_new_task and not outcome.keep:
                inst.dispose()  # not cached: the next task replays, and runs them again
        return outcome

    async def _fetch_and_replay(
        self, task: dict[str, Any], inst: WorkflowInstance | None, first: int, last: int
    ) -> tuple[WorkflowInstance | None, list[dict[str, Any]], Exception | None] | None:
        """Fetch events ``first`` .. ``last`` of the task's run a page at a time on the channel, a few
        pages in flight at once (the ranges are known up front), and feed ``inst`` (or a new instance,
        from event 1) each piece as it arrives, up to its last workflow task outcome, while the next
        pages are on their way: one after the other, fetching and replaying 75,000 events took about
        twice as long. Returns the instance, the events not fed yet, and what feeding raised (if it
        did, feeding stopped there); None if the history could not be fetched."""
        channel = self._channel
        if channel is None:
            return None
        given = inst
        token = task["task_token"]
        window = asyncio.Semaphore(_HISTORY_PAGES_IN_FLIGHT)

        async def chunk(lo: int, hi: int) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            async with window:
                while lo <= hi:
                    body = {"task_token": token, "first_event_id": lo, "last_event_id": hi}
                    page = await channel.call("get_workflow_task_history", body, timeout=60)
                    out.extend(page["events"])
                    nxt = page.get("next_event_id")
                    if not page["events"] or nxt is None:
                        break
                    lo = int(nxt)
            return out

        step = _HISTORY_CHUNK
        loop = asyncio.get_running_loop()
        chunks = [loop.create_task(chunk(lo, min(lo + step - 1, last))) for lo in range(first, last + 1, step)]
        pending: list[dict[str, Any]] = []
        error: Exception | None = None
        count = 0
        try:
            for t in chunks:
                events = await t
                count += len(events)
                pending.extend(events)
                if inst is None and pending and pending[0]["event_id"] == 1:
                    inst = replay_instance(
                        task,
                        pending[0],
                        self._workflows,
                        guard=self.deterministic_guard,
                        watchdog=self._watchdog,
                        interceptors=self._interceptors,
                    )
                if inst is None or error is not None:
                    continue
                # Fed up to (not including) the last WorkflowTaskStarted: every task fed then comes with its
                # outcome and the command events after it, which replaying its code reads ahead (a local
                # activity's marker, an accepted update).
                cut = len(pending)
                while cut > 0 and pending[cut - 1]["event_type"] != _WT_STARTED:
                    cut -= 1
                cut = max(cut - 1, 0)
                if cut:
                    piece, pending = pending[:cut], pending[cut:]
                    try:
                        inst.activate(piece)
                    except Exception as e:  # reported by process_workflow_task, as if it had raised there
                        error = e
        except (RPCError, ServerUnavailableError) as e:
            log.warning("could not fetch the history of workflow %s: %s", task["workflow_id"], e.message)
            count = -1
        finally:
            for t in chunks:
                if t.done() and not t.cancelled():
                    t.exception()  # retrieved: a page that failed after the one that stopped us is no news
                else:
                    t.cancel()
        if count != last - first + 1:
            if count >= 0:
                log.warning("the history of workflow %s came back incomplete; the task is retried", task["workflow_id"])
            if inst is not None and inst is not given:
                inst.dispose()  # a cached one is evicted by the caller
            return None
        return inst, pending, error

    def _catch_up(self, run_id: str, events: list[dict[str, Any]]) -> None:
        """Feed the cached workflow the events the server just wrote for it (its own commands)."""
        inst = self.cache.get(run_id)
        if inst is None or not events:
            return
        if events[0]["event_id"] != inst.last_event_id + 1:
            return  # not contiguous with what it has: the next task brings what is missing
        try:
            inst.activate(events)
        except Exception:
            log.exception("cached workflow %s disagreed with its own commands; dropping it", run_id)
            self.cache.evict(run_id)
            return
        if inst.finished:
            self.cache.evict(run_id)

    @contextlib.asynccontextmanager
    async def _run_lock(self, run_id: str) -> AsyncIterator[None]:
        """One thing at a time per workflow run in this worker: its cached copy is not thread-safe
        in time (a workflow task and an activity result must not advance it concurrently)."""
        entry = self._run_locks.get(run_id)
        if entry is None:
            entry = self._run_locks[run_id] = [asyncio.Lock(), 0]
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._run_locks[run_id]

    # ================================================================================================
    # Activity tasks
    # ================================================================================================

    async def _poll_activity_tasks(self) -> None:
        ask = 1
        while not self._stopping.is_set():
            await self._slots.take()
            held = 1 + self._slots.try_take(ask - 1)
            try:
                tasks = await self._poll("poll_activity_tasks", _POLL_WAIT, held)
                ask = _next_ask(ask, held, len(tasks))
                for task in tasks:
                    self._spawn_activity(task)
                    held -= 1  # the activity releases its slot when it ends
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("activity task poller error; continuing")
                await self._sleep(1.0)
            finally:
                self._slots.give(held)

    def _spawn_activity(self, task: dict[str, Any]) -> None:
        t = asyncio.get_running_loop().create_task(self._run_activity(task))
        self._activity_tasks.add(t)
        t.add_done_callback(self._activity_tasks.discard)

    def _eager_wanted(self, commands: list[dict[str, Any]]) -> int:
        """How many of ``commands`` schedule an activity this worker could run at once (at most
        _EAGER_MAX). Slots are reserved for exactly those while the completion waits for its commit:
        reserving more would starve the pollers and the other completions of slots meanwhile."""
        if not self._activities:
            return 0
        wanted = 0
        for c in commands:
            if (
                c["type"] == _SCHEDULE_ACTIVITY
                and c["activity_type"] in self._activities
                and c.get("task_queue") in (None, self.task_queue)
            ):
                wanted += 1
        return min(wanted, _EAGER_MAX)

    def _start_eager(self, tasks: list[dict[str, Any]], reserved: int, commands: list[dict[str, Any]]) -> None:
        """Run the activities the server handed back, on slots reserved for them; free the rest.

        A task marked ``input_from_command`` comes without its input: it is the input of the
        ScheduleActivity command (among ``commands``, the ones just sent) with the task's activity id.
        """
        inputs: dict[str, Any] | None = None
        for task in tasks[:reserved]:
            if task.get("input_from_command"):
                if inputs is None:
                    inputs = {c["activity_id"]: c.get("input") for c in commands if c["type"] == _SCHEDULE_ACTIVITY}
                activity_id = task["activity_id"]
                if activity_id not in inputs:
                    # Never expected (the server marks only activities these commands scheduled): the
                    # attempt fails, and its retry comes from a poll, with its input.
                    self._spawn_missing_input(task)
                    continue
                task["input"] = inputs[activity_id]
            self._spawn_activity(task)
        self._slots.give(max(0, reserved - len(tasks)))

    def _spawn_missing_input(self, task: dict[str, Any]) -> None:
        log.error("the server handed back activity %r without its input, which no command sent", task["activity_id"])
        self._slots.give()
        t = asyncio.get_running_loop().create_task(self._fail_missing_input(task["task_token"]))
        self._activity_tasks.add(t)
        t.add_done_callback(self._activity_tasks.discard)

    async def _fail_missing_input(self, token: str) -> None:
        failure = {
            "message": "the worker could not find this eager task's input among the commands it sent",
            "type": "MissingInput",
            "non_retryable": False,
        }
        await self._report("fail_activity_task", {"task_token": token, "failure": failure})

    async def _run_activity(self, task: dict[str, Any]) -> None:
        token = task["task_token"]
        lead = server_lead(task)  # measured now, as the task arrives (see continue_workflow)

        async def heartbeat(details: Any) -> None:
            channel = self._channel
            if channel is not None:
                body = {"task_token": token, "details": details}
                answer = await channel.call("heartbeat_activity_task", body, timeout=10)
                if isinstance(answer, dict) and answer.get("cancel_requested"):
                    self._runner.cancel(token)

        metrics = self._metrics
        t0 = time.perf_counter()
        try:
            if self._interceptors:
                kind, value = await self._run_intercepted(task, heartbeat)
            else:
                kind, value = await self._runner.run(task, heartbeat)
            if metrics is not None:
                activity_type = str(task.get("activity_type"))
                metrics.activity.labels(self.task_queue, activity_type).observe(time.perf_counter() - t0)
                if kind == "fail":
                    metrics.activity_failures.labels(self.task_queue, activity_type).inc()
        finally:
            # A slot bounds the activities *running* here. Reporting the outcome waits for a commit,
            # and holding the slot meanwhile capped W2: a thousand workflows shared 100 slots that
            # mostly waited for commits, and the next activities queued up on the server.
            self._slots.give()
        if kind == "complete":
            await self._complete_activity(task, value, lead)
        elif kind == "async":
            # Completed from elsewhere (activity.raise_complete_async()): the server lets it outlive this session.
            await self._report("release_activity_task", {"task_token": token})
        else:
            await self._report("fail_activity_task", {"task_token": token, "failure": value})

    async def _run_intercepted(
        self, task: dict[str, Any], heartbeat: Callable[[Any], Awaitable[None]]
    ) -> tuple[str, Any]:
        """Run an activity attempt within each interceptor's ``activity_call`` context (the first outermost)."""
        call = Call(
            CallKind.RUN_ACTIVITY,
            str(task["activity_type"]),
            str(task["workflow_id"]),
            task.get("run_id"),
            header=dict(task.get("header") or {}),
            extra={"activity_id": task.get("activity_id"), "local": str(task["task_token"]).startswith("local:")},
        )
        with contextlib.ExitStack() as stack:
            for interceptor in self._interceptors:
                stack.enter_context(interceptor.activity_call(call))
            return await self._runner.run(task, heartbeat)

    async def _complete_activity(self, task: dict[str, Any], result: Any, lead: float = 0.0) -> None:
        """Report a result; if this worker holds the workflow, run it on the result in the same step."""
        run_id = task["run_id"]
        body: dict[str, Any] = {"task_token": task["task_token"], "result": result}
        inst = self.cache.get(run_id) if task["workflow_type"] in self._workflows else None
        if inst is None or inst.pending_activities > 1:
            # With several pending (a fan-out), results go to the server as they come, without the
            # run's lock: the server's next workflow task then carries all that came meanwhile. Run
            # here one by one, each would be a workflow task of its own (K tasks for K activities).
            await self._report("complete_activity_task", body)
            return
        async with self._run_lock(run_id):
            continuation = continue_workflow(self.cache, task, result, server_lead=lead)
            if continuation is not None:
                body["continuation"] = continuation
            else:
                body["want_workflow_task"] = True
            slots = self._slots.try_take(self._eager_wanted(continuation["commands"])) if continuation else 0
            if slots:
                body["eager_activity_slots"] = slots
            answer = await self._report("complete_activity_task", body)
            if answer is None:
                self._slots.give(slots)
                if continuation is not None:
                    self.cache.evict(run_id)
                return
            cont = answer.get("continuation")
            if cont is not None and not cont.get("accepted"):
                # The history moved on meanwhile: the code ran on a view that will not be recorded.
                log.debug("continuation of %s refused: %s", run_id, cont.get("reason"))
                self.cache.evict(run_id)
            elif cont is not None:
                self._catch_up(run_id, cont.get("events") or [])
            self._start_eager(
                answer.get("activity_tasks") or [], slots, continuation["commands"] if continuation else []
            )
            inline = answer.get("workflow_task")
            if inline is not None:
                await self._handle_workflow_task_locked(inline)
