"""The worker channel: a WebSocket that carries a worker's session and its task traffic.

It offers the same operations as the worker endpoints of the HTTP API (poll, complete, fail,
heartbeat), with the same bodies and answers, as JSON messages on one connection:

    worker -> server   {"i": 7, "op": "complete_activity_task", "b": {...}}
    server -> worker   {"i": 7, "ok": {...}}   or   {"i": 7, "err": {"status": 404, "code": ..., "message": ...}}

The first message registers the worker (``op`` "register", body as ``POST /workers``). Two things make
this the path workers use: a message costs far less than an HTTP request (no per-request headers,
routing or connection handling), and the session is the connection, so when a worker dies its socket
closes and the server hands its tasks to other workers at once, without waiting for a lease to lapse.
A worker that ends cleanly sends ``op`` "bye" first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from .._json import dumps_str, loads
from ..api import models as m
from ..api.names import check_namespace
from ..errors import InvalidArgumentError, RPCError
from ..storage import StorageError
from ._engine import Engine
from ._matching import Session

__all__ = ["OPERATIONS", "worker_channel"]

log = logging.getLogger("mainspring.server")


Operation = Callable[[Engine, Session, Any], Awaitable[Any]]


def _poll_workflow(engine: Engine, s: Session, b: m.PollRequest) -> Awaitable[Any]:
    return engine.poll_workflow_task(s, b.timeout if b.timeout is not None else 30.0)


def _poll_activity(engine: Engine, s: Session, b: m.PollRequest) -> Awaitable[Any]:
    return engine.poll_activity_task(s, b.timeout if b.timeout is not None else 30.0)


async def _fail_workflow(engine: Engine, s: Session, b: m.FailWorkflowTaskRequest) -> Any:
    await engine.fail_workflow_task(b)
    return {"accepted": True}


async def _fail_activity(engine: Engine, s: Session, b: m.FailActivityTaskRequest) -> Any:
    await engine.fail_activity_task(b)
    return {"accepted": True}


#: op -> (body model, handler)
OPERATIONS: dict[str, tuple[type[BaseModel], Operation]] = {
    "poll_workflow_task": (m.PollRequest, _poll_workflow),
    "poll_activity_task": (m.PollRequest, _poll_activity),
    "complete_workflow_task": (m.CompleteWorkflowTaskRequest, lambda e, s, b: e.complete_workflow_task(b)),
    "fail_workflow_task": (m.FailWorkflowTaskRequest, _fail_workflow),
    "complete_activity_task": (m.CompleteActivityTaskRequest, lambda e, s, b: e.complete_activity_task(b)),
    "fail_activity_task": (m.FailActivityTaskRequest, _fail_activity),
    "heartbeat_activity_task": (m.HeartbeatActivityTaskRequest, lambda e, s, b: e.heartbeat_activity_task(b)),
}


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    return {"status": status, "code": code, "message": message}


def _body(model: type[BaseModel], raw: Any, session_id: str) -> BaseModel:
    if model is m.PollRequest and isinstance(raw, dict):
        raw = {**raw, "session_id": session_id}  # the connection is the session
    return model.model_validate(raw)


async def worker_channel(engine: Engine, websocket: WebSocket) -> None:
    """Serve one worker's connection until it closes; then end its session."""
    namespace = websocket.path_params["namespace"]
    await websocket.accept()
    send_lock = asyncio.Lock()
    polls: set[asyncio.Task[None]] = set()
    running: set[asyncio.Task[None]] = set()
    session: Session | None = None
    graceful = False

    async def send(message: dict[str, Any]) -> None:
        async with send_lock:
            await websocket.send_text(dumps_str(message))

    async def serve(i: Any, op: str, raw: Any, s: Session) -> None:
        try:
            entry = OPERATIONS.get(op)
            if entry is None:
                raise InvalidArgumentError(f"unknown operation {op!r}", status=400, code="invalid_argument")
            model, handler = entry
            try:
                body = _body(model, raw, s.id)
            except ValidationError as e:
                first = e.errors()[0]
                where = ".".join(str(p) for p in first["loc"]) or "body"
                raise InvalidArgumentError(
                    f"invalid {op}: field '{where}': {first['msg']}", status=400, code="invalid_argument"
                ) from None
            s.last_seen = engine.clock.now()
            result = await handler(engine, s, body)
            await send({"i": i, "ok": result})
        except RPCError as e:
            await send({"i": i, "err": _error(e.status or 400, e.code, e.message)})
        except StorageError as e:
            await send({"i": i, "err": _error(503, "storage_unavailable", str(e))})
        except asyncio.CancelledError:
            raise
        except (WebSocketDisconnect, RuntimeError):
            pass  # the worker went away while we answered
        except Exception as e:
            log.exception("internal error in worker channel operation %s", op)
            try:
                await send({"i": i, "err": _error(500, "internal", f"internal server error: {type(e).__name__}: {e}")})
            except (WebSocketDisconnect, RuntimeError):
                pass

    try:
        problem = check_namespace(namespace)
        if problem is not None:
            await send({"i": 0, "err": _error(400, "invalid_argument", problem)})
            return
        first = loads(await websocket.receive_text())
        try:
            if first.get("op") != "register":
                raise InvalidArgumentError(
                    "the first message must register the worker (op 'register')", status=400, code="invalid_argument"
                )
            req = m.RegisterWorkerRequest.model_validate(first.get("b"))
            session = await engine.register_worker(namespace, req)
        except ValidationError as e:
            await send(
                {
                    "i": first.get("i"),
                    "err": _error(400, "invalid_argument", f"invalid register: {e.errors()[0]['msg']}"),
                }
            )
            return
        except RPCError as e:
            await send({"i": first.get("i"), "err": _error(e.status or 400, e.code, e.message)})
            return
        session.on_channel = True
        await send(
            {
                "i": first.get("i"),
                "ok": {
                    "session_id": session.id,
                    "heartbeat_interval": engine.config.worker_heartbeat_interval.total_seconds(),
                    "session_timeout": engine.config.worker_session_timeout.total_seconds(),
                    "max_payload_bytes": engine.max_payload,
                },
            }
        )
        while True:
            message = loads(await websocket.receive_text())
            op = message.get("op")
            if op == "bye":
                graceful = True
                break
            task = asyncio.ensure_future(serve(message.get("i"), op, message.get("b"), session))
            running.add(task)
            task.add_done_callback(running.discard)
            if op in ("poll_workflow_task", "poll_activity_task"):
                polls.add(task)
                task.add_done_callback(polls.discard)
    except WebSocketDisconnect:
        pass
    except (ValueError, AttributeError):
        log.warning("worker channel closed: a message was not a JSON object")
    finally:
        # Waiting polls are abandoned (a task they hold goes back to its queue). Anything else runs
        # to its end: a transition cut short between its commit and its effects would strand work.
        for task in list(polls):
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        if session is not None and not session.closed:
            if not graceful:
                log.warning("worker %s disconnected; handing its tasks to other workers", session.identity)
            await engine.session_lost(session, graceful=graceful)
        try:
            await websocket.close()
        except RuntimeError:
            pass
