"""Queries in workflow code: a handler run against the workflow's current state, recording nothing.

A query is not an event: the worker runs it between workflow tasks, on the cached instance (or one
just replayed from history, for an evicted or closed run). It may not issue commands (``_instance``
refuses them while ``_querying`` is set) and its answer goes back as JSON.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from ..converter import PayloadError, decode, encode
from ..errors import WorkflowCodeError, WorkflowQueryFailedError
from ._handlers import QUERY
from ._runtime_handlers import lookup, names

if TYPE_CHECKING:
    from ._instance import WorkflowInstance

__all__ = ["run_query"]


def run_query(inst: WorkflowInstance, name: str, raw: Any) -> Any:
    """The JSON answer of query ``name`` with payload ``raw``; ``WorkflowQueryFailedError`` if there is none."""
    d = inst.definition
    h = lookup(inst, QUERY, name)
    wtype = inst.info.workflow_type
    if h is None or (inst.workflow_object is None and d.cls is not None):
        known = names(inst, QUERY)
        if h is None:
            listed = ", ".join(known) if known else "none"
            raise WorkflowQueryFailedError(
                f"workflow {wtype!r} has no query named {name!r}; its queries: {listed}", known=known
            )
        raise WorkflowQueryFailedError(f"workflow {wtype!r} has not started yet: query {name!r} has no state to read")
    args: list[Any] = []
    if h.dynamic:
        args = [name, raw]
    elif h.takes_input:
        try:
            args = [decode(raw, h.input_type)]
        except PayloadError as e:
            raise WorkflowQueryFailedError(f"the payload of query {name!r} does not fit: {e}") from None
    elif raw is not None:
        raise WorkflowQueryFailedError(f"query {name!r} takes no payload (got {type(raw).__name__})")
    previous = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(inst)
    inst._querying = name
    ready = len(inst._ready)
    try:
        answer = h.fn(inst.workflow_object, *args)
        if len(inst._ready) > ready:
            # It started a task or resolved a future: that code would run at the next workflow task, on
            # this worker only (a replay would not run it), so the workflow would diverge from its history.
            raise WorkflowCodeError(
                f"query {name!r} scheduled workflow code to run (a task, or a future's callbacks): a query only "
                "reads the workflow's state"
            )
    except Exception as e:
        raise WorkflowQueryFailedError(f"query {name!r} raised {type(e).__name__}: {e}") from e
    finally:
        while len(inst._ready) > ready:
            _drop(inst._ready.pop())
        inst._querying = None
        asyncio.events._set_running_loop(previous)
    try:
        return encode(answer)
    except PayloadError as e:
        raise WorkflowQueryFailedError(f"the answer of query {name!r} cannot be sent: {e}") from None


def _drop(handle: asyncio.Handle) -> None:
    """Drop a callback a query scheduled; a task it started is closed without a warning (its coroutine
    never ran: it is the query's mistake, refused already, not a coroutine someone forgot to await)."""
    owner = getattr(handle._callback, "__self__", None)  # type: ignore[attr-defined]
    handle.cancel()  # (which forgets the callback)
    if isinstance(owner, asyncio.Task):
        owner._log_destroy_pending = False  # type: ignore[attr-defined]
        coro = owner.get_coro()
        if isinstance(coro, Coroutine):
            try:
                coro.throw(GeneratorExit)  # closes it as begun (``close()`` would warn it was never awaited)
            except (GeneratorExit, StopIteration):
                pass
