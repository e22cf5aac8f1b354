"""Queries on the worker: the server asks, on the channel, for a query of a run this worker runs.

The answer comes from the cached instance when the server says the run is sticky here (under the run's lock,
so between workflow tasks), else from a replay of its history into an instance of its own, dropped after the
answer (see ``mainspring.server.features.queries``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .._json import dumps
from ..errors import WorkflowQueryFailedError
from ..workflow._handlers import QUERY
from ..workflow._runtime_handlers import lookup

if TYPE_CHECKING:
    from ..client._channel import Channel
    from ..workflow._instance import WorkflowInstance
    from ._worker import Worker

__all__ = ["spawn_query"]

log = logging.getLogger("mainspring.worker")


def _ask(inst: WorkflowInstance, name: str, raw: Any, header: Any = None) -> dict[str, Any]:
    """The answer of query ``name`` on ``inst``, as the server's "query" request wants it. ``header``: the
    query's; with one, the run's interceptors are told of it first (as Temporal's, only a query sent with a
    header is: one sent without it belongs to no trace)."""
    if header and inst.interceptors and isinstance(header, dict):
        inst.tell_query(name, header)
    try:
        return {"answer": inst.query(name, raw)}
    except WorkflowQueryFailedError as e:
        unknown = lookup(inst, QUERY, name) is None
        return {"failed": {"message": e.message, "known": e.known, "unknown": unknown}}


def _failed(message: str) -> dict[str, Any]:
    return {"failed": {"message": message}}


def spawn_query(worker: Worker, channel: Channel, q: Any, body: dict[str, Any]) -> None:
    """Answer the server's query request ``q`` on ``channel``, in a task of its own."""
    t = asyncio.get_running_loop().create_task(_answer_query(worker, channel, q, body))
    worker._query_tasks.add(t)
    t.add_done_callback(worker._query_tasks.discard)


async def _answer_query(worker: Worker, channel: Channel, q: Any, body: dict[str, Any]) -> None:
    # The server's request comes and the answer goes outside ``Channel.call``, so through the codec here.
    codec = worker.client.transport.codec
    try:
        if codec is not None:
            body = await codec.decode_body(body)
        answer = await _query(worker, body)
        if codec is not None and "answer" in answer and answer["answer"] is not None:
            answer = {**answer, "answer": (await codec.encode_values([answer["answer"]]))[0]}
    except Exception as e:  # a bug here, not in the query: the caller hears of it all the same
        log.exception("could not answer a query of workflow %s", body.get("workflow_id"))
        answer = _failed(f"the worker could not answer the query ({type(e).__name__}: {e})")
    if "answer" in answer:
        # A frame over the server's limit would end this worker's connection (its session, and every
        # task it holds): a query's answer is bounded as an activity's result is.
        size = len(dumps(answer["answer"]))
        if size > worker._max_payload:
            answer = _failed(
                f"the answer of query {body.get('query_name')!r} is {size:,} bytes, over the server's limit "
                f"of {worker._max_payload:,} bytes: answer with less (a summary, a page)"
            )
    channel.send({"q": q, "ok": answer})


async def _query(worker: Worker, body: dict[str, Any]) -> dict[str, Any]:
    """``{"answer": ...}``, or ``{"failed": {"message", "known"?, "unknown"?}}``.

    Asked of the cached instance under the run's lock, so it sees the state between workflow tasks,
    never in the middle of one, when the server says the run is sticky here; a run not cached here
    (evicted, another worker's, closed) is replayed from its history into an instance of its own, which
    is dropped after the answer: its commands go nowhere, and the cache keeps only the runs this worker
    runs."""
    run_id = str(body["run_id"])
    name = str(body["query_name"])
    raw = body.get("input")
    header = body.get("header")
    if body.get("workflow_type") not in worker._workflows:
        known = ", ".join(worker._workflows) or "none"
        return _failed(f"worker {worker.identity} does not run {body.get('workflow_type')!r} (it runs: {known})")
    if body.get("sticky"):  # else this worker's copy, if it has one, may lag behind another worker's
        if run_id in worker._reporting:
            # Its task is done and its completion on the way (the server asks once that completion is in):
            # the copy rests at the state to answer from, and waiting for the run's lock would wait for the
            # completion's answer, that is for its write, which the answer does not depend on.
            inst = worker.cache.peek(run_id)
            if inst is not None:
                return _ask(inst, name, raw, header)
        async with worker._run_lock(run_id):
            inst = worker.cache.peek(run_id)
            if inst is not None:
                return _ask(inst, name, raw, header)
    task = {
        "task_token": body["history_token"],
        "namespace": worker.client.namespace,
        "workflow_id": body["workflow_id"],
        "run_id": run_id,
        "workflow_type": body["workflow_type"],
        "task_queue": body["task_queue"],
    }
    fetched = await worker._fetch_and_replay(task, None, 1, int(body["last_event_id"]))
    if fetched is None:
        return _failed(f"worker {worker.identity} could not fetch the workflow's history to replay it")
    inst, rest, error = fetched
    if inst is None:
        return _failed("the workflow's history could not be replayed (it has no start event)")
    try:
        if error is None and rest:
            # What the fetch leaves for the workflow task it was made for (from the last WorkflowTaskStarted
            # on): here there is no such task, and the query must see the whole history.
            try:
                inst.activate(rest)
            except Exception as e:
                error = e
        if error is not None:
            return _failed(f"replaying the workflow's history to answer the query failed: {error}")
        return _ask(inst, name, raw, header)
    finally:
        inst.dispose()
