"""The workflow context: everything workflow code may use to talk to the world, deterministically."""

from __future__ import annotations

import asyncio
import logging
import random as _random
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Concatenate, NoReturn, TypeVar, Unpack, overload

from ..activity import get_definition as get_activity_definition
from ..activity._args import NO_ARG, encode_arguments
from ..common import SearchAttributeUpdate, TypedSearchAttributes
from ..errors import TimeoutError as FailureTimeoutError
from ..errors import WorkflowCodeError
from ..options import (
    ActivityOptions,
    ExecuteActivityOptions,
    ExecuteLocalActivityOptions,
    _check_activity_options,
    _local_activity_options,
    _wire,
)
from . import _search_attributes
from ._children import ChildWorkflowHandle, ChildWorkflowOptions, ExternalWorkflowHandle, start_child
from ._handlers import QUERY, SIGNAL, UPDATE
from ._instance import ActivityCall, WorkflowInfo
from ._local_activities import LocalActivityCall
from ._patches import deprecate, patched
from ._runtime_handlers import set_handler
from ._updates import UpdateInfo, current_update

if TYPE_CHECKING:
    from ..activity._definition import ActivityDefinition, ActivityFunction
    from ._definition import WorkflowFunction
    from ._handlers import RunMethod
    from ._instance import WorkflowInstance

__all__ = ["Context"]

A = TypeVar("A")
R = TypeVar("R")
S = TypeVar("S")


#: ``continue_as_new`` was given no input.
_NO_ARG: Any = object()

#: What ``execute_activity`` starts from when no ``options`` are given, in the server's terms.
_NO_OPTIONS = ActivityOptions().to_json()


class _ReplayAwareLogger(logging.LoggerAdapter[logging.Logger]):
    """Drops records while the workflow replays, so each message is logged once."""

    def __init__(self, instance: WorkflowInstance) -> None:
        super().__init__(logging.getLogger("mainspring.workflow"), {})
        self._instance = instance

    def isEnabledFor(self, level: int) -> bool:
        return not self._instance.replaying and super().isEnabledFor(level)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        info = self._instance.info
        return f"[{info.workflow_type} {info.workflow_id}] {msg}", kwargs


class Context:
    """Passed to every workflow as its first argument.

    Workflow code must be deterministic: replaying its history must make it issue the same calls in
    the same order. Everything here is safe in that sense; the wall clock, ``time.sleep``, the
    ``random`` module and I/O are not (do I/O in activities).
    """

    def __init__(self, instance: WorkflowInstance) -> None:
        self._instance = instance
        self._logger: _ReplayAwareLogger | None = None

    @property
    def info(self) -> WorkflowInfo:
        """About this workflow run."""
        return self._instance.info

    @property
    def is_replaying(self) -> bool:
        """True while the code is re-running steps whose outcome is already in history."""
        return self._instance.replaying

    @property
    def cancel_requested(self) -> bool:
        """True once a cancellation of this run was requested (``handle.cancel()``, ``mainspring workflow
        cancel``, the web UI). The workflow's main coroutine then gets ``asyncio.CancelledError`` where it
        waits; it may catch it to clean up (even run activities) before it returns or re-raises."""
        return self._instance.cancel_request is not None

    @property
    def logger(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger that stays quiet during replay."""
        if self._logger is None:
            self._logger = _ReplayAwareLogger(self._instance)
        return self._logger

    def now(self) -> datetime:
        """The workflow's current time (UTC): when the current workflow task started. Replays the same."""
        return datetime.fromtimestamp(self._instance.time(), UTC)

    def random(self) -> _random.Random:
        """A random generator seeded by the run, so replays draw the same numbers."""
        return self._instance.random

    def uuid4(self) -> uuid.UUID:
        """A random UUID that replays the same."""
        return uuid.UUID(int=self._instance.random.getrandbits(128), version=4)

    async def sleep(self, duration: timedelta | float) -> None:
        """Wait durably: the timer lives on the server and survives worker and server restarts."""
        seconds = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
        if seconds < 0:
            raise ValueError(f"ctx.sleep() needs a duration of zero or more, got {seconds}")
        self._check_loop()
        await asyncio.sleep(seconds)

    async def wait_condition(self, condition: Callable[[], bool], *, timeout: timedelta | float | None = None) -> None:
        """Wait until ``condition()`` is true: it is checked whenever the workflow's code is blocked (after a
        signal or update handler ran, an activity's result arrived, a timer fired), so it may read state
        that handlers change. It must only read: no side effects, no awaiting.

        With ``timeout`` (a durable timer), raises ``mainspring.TimeoutError`` if the condition is still
        false when it fires.
        """
        self._check_loop()
        seconds = None
        if timeout is not None:
            seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else float(timeout)
            if not seconds >= 0:
                raise ValueError(f"ctx.wait_condition() needs a timeout of zero or more, got {seconds}")
        if condition():
            return
        future = self._instance.add_condition(condition)
        if seconds is None:
            await future
            return
        try:
            await asyncio.wait_for(future, seconds)
        except TimeoutError:
            raise FailureTimeoutError(
                f"wait_condition timed out after {seconds:g} s", timeout_type="WAIT_CONDITION"
            ) from None

    def current_update_info(self) -> UpdateInfo | None:
        """The update whose handler (or validator) runs this code (its ``id`` and ``name``), else None."""
        return current_update.get()

    # --- versioning (Temporal's workflow.patched / deprecate_patch) -----------------------------------------

    def patched(self, patch_id: str) -> bool:
        """True if this run takes the new code path of the change named ``patch_id``: runs that got to this
        point under the old code (their history has no marker for it) replay the old path and get False;
        others record a marker and get True. The same answer for the rest of the run (see ``_patches``)."""
        self._check_loop()
        return patched(self._instance, patch_id)

    def deprecate_patch(self, patch_id: str) -> None:
        """Mark ``patch_id`` as the only path left (no run of the old one remains): its marker is recorded,
        and replay accepts histories with or without it."""
        self._check_loop()
        deprecate(self._instance, patch_id)

    # --- search attributes and memo (Temporal's workflow.upsert_search_attributes / upsert_memo) ---------------

    @property
    def typed_search_attributes(self) -> TypedSearchAttributes:
        """The run's custom search attributes, as set at its start and by its upserts (read with a key:
        ``ctx.typed_search_attributes.get(SearchAttributeKey.for_keyword("CustomerId"))``)."""
        return _search_attributes.typed(self._instance)

    @property
    def search_attributes(self) -> dict[str, Any]:
        """The same, as name -> plain value (a Datetime as RFC 3339 text)."""
        return {k: v.get("value") for k, v in self._instance._search_attributes.items()}

    @property
    def memo(self) -> dict[str, Any]:
        """The run's memo (plain JSON), as set at its start and by ``upsert_memo``."""
        return dict(self._instance._memo)

    def upsert_search_attributes(self, updates: Sequence[SearchAttributeUpdate[Any]] | Mapping[str, Any]) -> None:
        """Set (``key.value_set(v)``) or unset (``key.value_unset()``) custom search attributes of this run, or
        give a mapping of name to value (None unsets). Recorded in history (UpsertWorkflowSearchAttributes) and
        applied to the run's attributes when the workflow task completes: list filters then find the run by them.
        Each must be registered in the namespace; the server refuses a value of another type (the task fails,
        naming the attribute)."""
        self._check_loop()
        _search_attributes.upsert(self._instance, updates)

    def upsert_memo(self, values: Mapping[str, Any]) -> None:
        """Set keys of the run's memo (None removes one): recorded in history (WorkflowPropertiesModified) and
        shown by describe once the workflow task completes."""
        self._check_loop()
        _search_attributes.upsert_memo(self._instance, values)

    # --- handlers set while the workflow runs (Temporal's workflow.set_*_handler) ---------------------------

    def set_signal_handler(self, name: str, handler: Callable[..., Any] | None) -> None:
        """Run ``handler(payload)`` (or ``handler()``) for signals named ``name`` from now on, ahead of the
        class's own; None removes it. Signals of that name that waited for a handler are delivered at once."""
        self._check_loop()
        set_handler(self._instance, SIGNAL, name, handler)

    def set_dynamic_signal_handler(self, handler: Callable[[str, Any], Any] | None) -> None:
        """Run ``handler(name, payload_json)`` for signals no handler has the name of; None removes it."""
        self._check_loop()
        set_handler(self._instance, SIGNAL, None, handler)

    def set_query_handler(self, name: str, handler: Callable[..., Any] | None) -> None:
        """Answer queries named ``name`` with ``handler(payload)`` (or ``handler()``, sync, read-only) from now
        on; None removes it."""
        self._check_loop()
        set_handler(self._instance, QUERY, name, handler)

    def set_dynamic_query_handler(self, handler: Callable[[str, Any], Any] | None) -> None:
        """Answer queries no handler has the name of with ``handler(name, payload_json)``; None removes it."""
        self._check_loop()
        set_handler(self._instance, QUERY, None, handler)

    def set_update_handler(
        self,
        name: str,
        handler: Callable[..., Any] | None,
        *,
        validator: Callable[..., None] | None = None,
    ) -> None:
        """Run updates named ``name`` with ``handler(payload)`` (sync or async) from now on, after
        ``validator(payload)`` accepts them (raise to reject); None removes it."""
        self._check_loop()
        set_handler(self._instance, UPDATE, name, handler, validator)

    def set_dynamic_update_handler(
        self, handler: Callable[[str, Any], Any] | None, *, validator: Callable[[str, Any], None] | None = None
    ) -> None:
        """Run updates no handler has the name of with ``handler(name, payload_json)``; None removes it."""
        self._check_loop()
        set_handler(self._instance, UPDATE, None, handler, validator)

    def all_handlers_finished(self) -> bool:
        """True when no signal or update handler of this run is still running: ``await
        ctx.wait_condition(ctx.all_handlers_finished)`` before returning, so that none is cut short."""
        return self._instance.running_handlers == 0

    def _check_loop(self) -> None:
        if asyncio.events._get_running_loop() is not self._instance:
            raise WorkflowCodeError("the workflow context can only be used from the workflow's own code")

    # --- activities --------------------------------------------------------------------------------------
    # One overload per shape of activity (async or plain, with or without an input), so the type
    # checker knows the argument type the activity wants and the type of its result; the options are
    # one TypedDict (``ExecuteActivityOptions``) that every overload takes, so a new option is one edit
    # there. Only ``@activity.defn`` produces an ``ActivityFunction``, so an undecorated function does
    # not fit. pyright compares its parameter list exactly: an optional input must still be passed, and
    # extra keyword-only parameters do not fit. The required timeout is checked when the call runs:
    # overloads for every combination of timeouts would bury the message about a wrong argument under a
    # dozen candidates.
    #
    # By name, ``result_type`` is required. A name is a ``str``, and so is the result of *calling* a plain
    # activity that returns one (``ctx.execute_activity(checksum(data))``, meant as
    # ``ctx.execute_activity(checksum, data)``); neither checker can tell the two apart (mypy has no
    # ``LiteralString``), but the mistake never comes with a ``result_type``. ``result_type=object`` takes
    # the result as plain JSON.

    @overload
    async def execute_activity(
        self, activity: ActivityFunction[[], Awaitable[R]], **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity(
        self, activity: ActivityFunction[[A], Awaitable[R]], arg: A, **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity(
        self, activity: ActivityFunction[[], R], **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity(
        self, activity: ActivityFunction[[A], R], arg: A, **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    # Several arguments go in ``args`` (as in Temporal's SDK): the result's type still flows, the
    # arguments' types are not checked (a list literal has one element type; a tuple per arity would
    # fall through to these overloads anyway).
    @overload
    async def execute_activity(
        self,
        activity: ActivityFunction[..., Awaitable[R]],
        *,
        args: Sequence[Any],
        **options: Unpack[ExecuteActivityOptions],
    ) -> R: ...

    @overload
    async def execute_activity(
        self, activity: ActivityFunction[..., R], *, args: Sequence[Any], **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity(
        self, activity: str, arg: Any = ..., *, result_type: type[R], **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity(
        self,
        activity: str,
        *,
        args: Sequence[Any],
        result_type: type[R],
        **options: Unpack[ExecuteActivityOptions],
    ) -> R: ...

    async def execute_activity(
        self,
        activity: Any,
        arg: Any = NO_ARG,
        *,
        args: Sequence[Any] | None = None,
        result_type: Any = None,
        **options: Any,
    ) -> Any:
        """Run an activity and wait for its result.

        ``activity`` is a function decorated with ``@activity.defn`` (typed: ``arg`` must fit its
        input type, and the result has its result type; a method bound to an instance, ``repo.save``,
        works too) or an activity name with the ``result_type`` its result is decoded to (``object``
        for plain JSON). An activity of several parameters takes them as ``args=[a, b]``. The
        options (``ExecuteActivityOptions``) are the fields of ``ActivityOptions``, and ``options``,
        an ``ActivityOptions`` whose fields the keywords override. At least one of
        ``schedule_to_close_timeout`` and ``start_to_close_timeout`` is required. An option the server
        would refuse raises ``TypeError`` (an unknown option or a value of the wrong type) or
        ``ValueError`` (a duration or id out of range), naming it; an argument with no JSON form
        raises ``InvalidArgumentError`` naming its type, and a number of arguments the activity does
        not take ``TypeError``. If the activity fails for good, ``ActivityError`` is raised with the
        last attempt's error as its ``cause``.
        """
        self._check_loop()
        d = None if isinstance(activity, str) else get_activity_definition(activity)
        return await self._instance.schedule_activity(_activity_call(d, activity, arg, args, result_type, options))

    # One overload per shape of method (async or plain, with no argument, one, or ``args``): ``self`` is
    # typed Any, as mypy cannot solve a type variable that only the instance would bind.
    @overload
    async def execute_activity_method(
        self, activity: ActivityFunction[[Any], Awaitable[R]], **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity_method(
        self, activity: ActivityFunction[[Any, A], Awaitable[R]], arg: A, **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity_method(
        self, activity: ActivityFunction[[Any], R], **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity_method(
        self, activity: ActivityFunction[[Any, A], R], arg: A, **options: Unpack[ExecuteActivityOptions]
    ) -> R: ...

    @overload
    async def execute_activity_method(
        self,
        activity: ActivityFunction[Concatenate[Any, ...], Awaitable[R]],
        *,
        args: Sequence[Any],
        **options: Unpack[ExecuteActivityOptions],
    ) -> R: ...

    @overload
    async def execute_activity_method(
        self,
        activity: ActivityFunction[Concatenate[Any, ...], R],
        *,
        args: Sequence[Any],
        **options: Unpack[ExecuteActivityOptions],
    ) -> R: ...

    async def execute_activity_method(
        self, activity: Any, arg: Any = NO_ARG, *, args: Sequence[Any] | None = None, **options: Any
    ) -> Any:
        """Run an activity that is a method of a class, named by its class: ``ctx.execute_activity_method(
        Repo.save, item, start_to_close_timeout=...)``. The worker runs it on the instance it was given
        (``Worker(activities=[repo.save])``). Otherwise as ``execute_activity``."""
        self._check_loop()
        d = get_activity_definition(activity)
        if not d.is_method:
            raise TypeError(f"activity {d.name!r} is not a method of a class: run it with ctx.execute_activity()")
        return await self._instance.schedule_activity(_activity_call(d, activity, arg, args, None, options))

    # --- continue-as-new ---------------------------------------------------------------------------------
    # With ``workflow=`` (this workflow, or another to become), the type checkers check the input against its
    # input type; without, it is checked when the call runs (against this workflow's).

    @overload
    def continue_as_new(
        self, arg: A, *, workflow: WorkflowFunction[[Context, A], Awaitable[Any]], task_queue: str | None = ...
    ) -> NoReturn: ...

    @overload
    def continue_as_new(
        self, arg: A, *, workflow: RunMethod[Any, [A], Any], task_queue: str | None = ...
    ) -> NoReturn: ...

    @overload
    def continue_as_new(
        self,
        *,
        workflow: WorkflowFunction[[Context], Awaitable[Any]] | RunMethod[Any, [], Any],
        task_queue: str | None = ...,
    ) -> NoReturn: ...

    @overload
    def continue_as_new(self, arg: Any = ..., *, task_queue: str | None = ...) -> NoReturn: ...

    def continue_as_new(self, arg: Any = _NO_ARG, *, workflow: Any = None, task_queue: str | None = None) -> NoReturn:
        """End this run and start the next run of the same workflow id with ``arg`` as its input: the history
        starts afresh (see ``ctx.info.is_continue_as_new_suggested()``), and ``handle.result()`` follows to the
        last run's outcome. ``workflow``: the workflow the next run is (default: this one; typed, its input
        type is checked); ``task_queue``: its task queue (default: this one's).

        Raises ``ContinueAsNewError`` (let it propagate: it is a ``BaseException``), from the workflow's main
        code (``run``); ``TypeError`` if ``arg`` does not fit the next run's input type.
        """
        from ._continue_as_new import ContinueAsNewError, command

        self._check_loop()
        inst = self._instance
        raise ContinueAsNewError(command(inst.definition, workflow, arg, arg is not _NO_ARG, task_queue))

    # --- child workflows and external workflows ----------------------------------------------------------
    # One overload per shape of workflow, as for activities: a class's ``run`` method (its class types the
    # handle's signals), a function workflow, or a name (with ``result_type``, or Any). The options are one
    # TypedDict (``ChildWorkflowOptions``).

    @overload
    async def start_child_workflow(
        self, workflow: RunMethod[S, [], R], **options: Unpack[ChildWorkflowOptions]
    ) -> ChildWorkflowHandle[S, R]: ...

    @overload
    async def start_child_workflow(
        self, workflow: RunMethod[S, [A], R], arg: A, **options: Unpack[ChildWorkflowOptions]
    ) -> ChildWorkflowHandle[S, R]: ...

    @overload
    async def start_child_workflow(
        self, workflow: WorkflowFunction[[Context], Awaitable[R]], **options: Unpack[ChildWorkflowOptions]
    ) -> ChildWorkflowHandle[Any, R]: ...

    @overload
    async def start_child_workflow(
        self, workflow: WorkflowFunction[[Context, A], Awaitable[R]], arg: A, **options: Unpack[ChildWorkflowOptions]
    ) -> ChildWorkflowHandle[Any, R]: ...

    @overload
    async def start_child_workflow(
        self, workflow: str, arg: Any = ..., *, result_type: type[R], **options: Unpack[ChildWorkflowOptions]
    ) -> ChildWorkflowHandle[Any, R]: ...

    @overload
    async def start_child_workflow(
        self, workflow: str, arg: Any = ..., **options: Unpack[ChildWorkflowOptions]
    ) -> ChildWorkflowHandle[Any, Any]: ...

    async def start_child_workflow(
        self, workflow: Any, arg: Any = None, *, result_type: Any = None, **options: Any
    ) -> ChildWorkflowHandle[Any, Any]:
        """Start a child workflow and return its handle once it has started (await the handle, or its
        ``result()``, for its result; ``signal`` and ``cancel`` it).

        ``workflow`` is a class workflow's ``run`` method (``Child.run``), a function decorated with
        ``@workflow.defn`` (typed either way: ``arg`` must fit its input, the result has its type) or a
        workflow type name (``result_type`` types the result). Options (``ChildWorkflowOptions``): ``id``
        (default: made from this run's id, the same on replay), ``task_queue`` (default: this workflow's),
        ``parent_close_policy`` (``ParentClosePolicy.TERMINATE`` by default), and the child's own start
        options, as ``Client.start_workflow`` takes them: ``execution_timeout`` and ``run_timeout`` (the child
        times out: its result raises ``ChildWorkflowError`` with a ``TimeoutError`` cause), ``task_timeout``
        (its workflow tasks'), ``retry_policy`` (a failed run is retried as a new run of the child's id; the
        result is the last run's), ``id_reuse_policy`` (may it start when a closed workflow had its id?) and
        ``memo`` (shown by its ``describe``). A wrong option raises ``TypeError`` or ``ValueError`` naming it.

        Raises ``ChildWorkflowError`` if it could not start (its id is taken by a running workflow, or its
        ``id_reuse_policy`` refuses a closed one: the cause is an ``ApplicationError`` of type
        ``WorkflowExecutionAlreadyStarted``). Cancelling the code that waits asks the child to cancel. In the
        child, ``ctx.info.parent`` names this workflow.
        """
        self._check_loop()
        handle: ChildWorkflowHandle[Any, Any] = await start_child(self._instance, workflow, arg, result_type, options)
        return handle

    @overload
    async def execute_child_workflow(
        self, workflow: RunMethod[S, [], R], **options: Unpack[ChildWorkflowOptions]
    ) -> R: ...

    @overload
    async def execute_child_workflow(
        self, workflow: RunMethod[S, [A], R], arg: A, **options: Unpack[ChildWorkflowOptions]
    ) -> R: ...

    @overload
    async def execute_child_workflow(
        self, workflow: WorkflowFunction[[Context], Awaitable[R]], **options: Unpack[ChildWorkflowOptions]
    ) -> R: ...

    @overload
    async def execute_child_workflow(
        self, workflow: WorkflowFunction[[Context, A], Awaitable[R]], arg: A, **options: Unpack[ChildWorkflowOptions]
    ) -> R: ...

    @overload
    async def execute_child_workflow(
        self, workflow: str, arg: Any = ..., *, result_type: type[R], **options: Unpack[ChildWorkflowOptions]
    ) -> R: ...

    @overload
    async def execute_child_workflow(
        self, workflow: str, arg: Any = ..., **options: Unpack[ChildWorkflowOptions]
    ) -> Any: ...

    async def execute_child_workflow(
        self, workflow: Any, arg: Any = None, *, result_type: Any = None, **options: Any
    ) -> Any:
        """Start a child workflow and wait for its result (``start_child_workflow``, then the handle's
        ``result()``; the same options). Raises ``ChildWorkflowError`` if the child did not complete: its
        ``cause`` is the child's failure (the ``ApplicationError`` it raised...), a ``CancelledError``, a
        ``TerminatedError`` or a ``TimeoutError``."""
        self._check_loop()
        handle: ChildWorkflowHandle[Any, Any] = await start_child(
            self._instance, workflow, arg, result_type, options, started_awaited=False
        )
        return await handle.result()

    def get_external_workflow_handle(
        self, workflow_id: str, *, run_id: str | None = None
    ) -> ExternalWorkflowHandle[Any]:
        """A handle to another workflow of this namespace (its newest run, unless ``run_id``): ``signal``
        it, ``cancel`` it."""
        return ExternalWorkflowHandle(self._instance, workflow_id, run_id)

    def get_external_workflow_handle_for(
        self, workflow: RunMethod[S, Any, Any], workflow_id: str, *, run_id: str | None = None
    ) -> ExternalWorkflowHandle[S]:
        """``get_external_workflow_handle``, typed by the workflow's class (``Other.run``): its ``signal``
        takes that class's signal methods, with their payload types."""
        return ExternalWorkflowHandle(self._instance, workflow_id, run_id)

    # --- local activities --------------------------------------------------------------------------------
    # Typed as execute_activity is (one overload per shape of activity; by name, result_type is required);
    # the options are ExecuteLocalActivityOptions.

    @overload
    async def execute_local_activity(
        self, activity: ActivityFunction[[], Awaitable[R]], **options: Unpack[ExecuteLocalActivityOptions]
    ) -> R: ...

    @overload
    async def execute_local_activity(
        self, activity: ActivityFunction[[A], Awaitable[R]], arg: A, **options: Unpack[ExecuteLocalActivityOptions]
    ) -> R: ...

    @overload
    async def execute_local_activity(
        self, activity: ActivityFunction[[], R], **options: Unpack[ExecuteLocalActivityOptions]
    ) -> R: ...

    @overload
    async def execute_local_activity(
        self, activity: ActivityFunction[[A], R], arg: A, **options: Unpack[ExecuteLocalActivityOptions]
    ) -> R: ...

    @overload
    async def execute_local_activity(
        self,
        activity: ActivityFunction[..., Awaitable[R]],
        *,
        args: Sequence[Any],
        **options: Unpack[ExecuteLocalActivityOptions],
    ) -> R: ...

    @overload
    async def execute_local_activity(
        self,
        activity: ActivityFunction[..., R],
        *,
        args: Sequence[Any],
        **options: Unpack[ExecuteLocalActivityOptions],
    ) -> R: ...

    @overload
    async def execute_local_activity(
        self, activity: str, arg: Any = ..., *, result_type: type[R], **options: Unpack[ExecuteLocalActivityOptions]
    ) -> R: ...

    @overload
    async def execute_local_activity(
        self,
        activity: str,
        *,
        args: Sequence[Any],
        result_type: type[R],
        **options: Unpack[ExecuteLocalActivityOptions],
    ) -> R: ...

    async def execute_local_activity(
        self,
        activity: Any,
        arg: Any = NO_ARG,
        *,
        args: Sequence[Any] | None = None,
        result_type: Any = None,
        **options: Any,
    ) -> Any:
        """Run an activity in this worker, within the workflow task, and wait for its result.

        For short work (a lookup, a computation, a quick call) that is not worth a round trip through the
        server's task queue: the function runs in the worker that runs the workflow (it must be among the
        worker's ``activities``), is retried there with backoff per ``retry_policy``, and its outcome is
        recorded in history as a marker with the task's other commands. On replay the marker's outcome is
        used: the function is not run again. It may run more than once if a worker is lost before the
        task completes (at least once, as an activity). A local activity longer than the workflow task
        timeout keeps its task alive: the worker completes the task before it times out and goes on in
        the next one.

        Typed as ``execute_activity`` (``arg`` must fit the activity's input type, the result has its result
        type; by name, ``result_type`` is required; several arguments go in ``args=[a, b]``; a method bound
        to an instance works too). Options: ``ExecuteLocalActivityOptions`` (at least one
        of the two timeouts). If it fails for good, ``ActivityError`` is raised with the last attempt's
        error as its ``cause`` (see ``workflow.raise_cause``).
        """
        self._check_loop()
        if isinstance(activity, str):
            d, name, rtype = None, activity, result_type
        else:
            d = get_activity_definition(activity)
            name, rtype = d.name, d.result_type if result_type is None else result_type
        wire = _local_activity_options(options, message_prefix=f"local activity {name!r}: ")
        payload = encode_arguments(name, d, arg, args)  # as for an activity: one value, or an array of them
        call = LocalActivityCall(activity_type=name, input=payload, result_type=rtype, **wire)
        return await self._instance.schedule_local_activity(call)


#: The server's form of the options of recent ``execute_activity`` calls, by their keywords. A workflow calls
#: its activities with the same options again and again, and checking and converting them each time was ~10%
#: of a long replay's time (W17). Only calls whose option values are all hashable are kept (a RetryPolicy's
#: ``non_retryable_error_types`` given as a list is not); only options that passed the checks are kept.
_WIRE_OPTIONS: dict[tuple[tuple[str, Any], ...], dict[str, Any]] = {}
_WIRE_OPTIONS_MAX = 256


def _activity_call(
    d: ActivityDefinition | None,
    activity: Any,
    arg: Any,
    args: Sequence[Any] | None,
    result_type: Any,
    options: dict[str, Any],
) -> ActivityCall:
    """What ``execute_activity`` and ``execute_activity_method`` schedule (``d`` None: by name)."""
    if d is None:
        name, rtype = activity, result_type
    else:
        name, rtype = d.name, d.result_type if result_type is None else result_type
    key: tuple[tuple[str, Any], ...] | None = tuple(options.items())
    try:
        merged = _WIRE_OPTIONS.get(key)  # type: ignore[arg-type]
    except TypeError:  # an unhashable value: checked and converted every time
        key, merged = None, None
    if merged is None:
        merged = _wire_activity_options(name, options)
        if key is not None:
            if len(_WIRE_OPTIONS) >= _WIRE_OPTIONS_MAX:
                _WIRE_OPTIONS.clear()
            _WIRE_OPTIONS[key] = merged
    payload = encode_arguments(name, d, arg, args)
    return ActivityCall(activity_type=name, input=payload, result_type=rtype, **merged)


def _wire_activity_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """``execute_activity``'s keyword options checked and in the server's terms (``ActivityCall``'s fields)."""
    # What the server would refuse, refused here: the workflow task fails with this message (and
    # is retried), instead of its completion being turned away.
    _check_activity_options(options, message_prefix=f"activity {name!r}: ")
    base: ActivityOptions | None = options.get("options")
    merged = base.to_json() if base is not None else dict(_NO_OPTIONS)
    for option, value in options.items():
        if value is not None and option != "options":
            merged[option] = _wire(value)
    if merged["schedule_to_close_timeout"] is None and merged["start_to_close_timeout"] is None:
        raise ValueError(
            f"activity {name!r}: set schedule_to_close_timeout or start_to_close_timeout "
            "(how long it may take, retries included or per attempt)"
        )
    return merged
