"""The worker channel: a WebSocket that carries a worker's session and its task traffic.

It offers the operations of the table (``_operations``) marked ``worker`` (poll, complete, fail, heartbeat),
with the same bodies and answers as their HTTP routes, as JSON messages on one connection:

    worker -> server   {"i": 7, "op": "complete_activity_task", "b": {...}}
    server -> worker   {"i": 7, "ok": {...}}   or   {"i": 7, "err": {"status": 404, "code": ..., "message": ...}}

Three operations exist only here: ``poll_workflow_tasks`` and ``poll_activity_tasks`` take a poll body
with ``max_tasks`` and answer ``{"tasks": [...]}``, the first task waited for and the rest those ready
at that moment, so a worker with many free slots fills them in one round trip; and
``get_workflow_task_history`` (``{"task_token", "first_event_id", "last_event_id"}``) answers
``{"events": [...], "next_event_id": ...}``, a page of the older events a workflow task left out.

The first message registers the worker (``op`` "register", body as ``POST /workers``). Two things make
this the path workers use: a message costs far less than an HTTP request (no per-request headers,
routing or connection handling), and the session is the connection, so when a worker dies its socket
closes and the server hands its tasks to other workers at once, without waiting for a lease to lapse.
A worker that ends cleanly sends ``op`` "bye" first.

The server also sends the worker messages of its own, told apart from answers by their ``op``:

    server -> worker   {"op": "cancel_activity", "b": {"task_token": ...}}     (no answer expected)
    server -> worker   {"q": 3, "op": "stack", "b": {"run_id": ...}}
    worker -> server   {"q": 3, "ok": {...}}   or   {"q": 3, "err": {"status": ..., "code": ..., "message": ...}}
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketDisconnect

from .._answers import TOKEN_EXPIRED
from .._json import dumps_str, loads
from ..api import models as m
from ..api.names import check_namespace
from ..api.roles import Access, Principal
from ..errors import InvalidArgumentError, PermissionDeniedError, RPCError, UnauthenticatedError
from ..storage import StorageError
from ._audit import audited
from ._auth import NO_CREDENTIALS, authorize
from ._core import AFTER_ANSWER
from ._engine import Engine
from ._errors import ErrorAnswer, answer_for
from ._guard import Refusal, refuse_handshake
from ._matching import Session
from ._oidc import CHANNEL_TOKEN_EXPIRED
from ._operations import BY_NAME, Caller, Operation
from ._operations import OPERATIONS as ALL_OPERATIONS
from ._tracing import UNTRACED, ServerTracing
from ._wire import validate

__all__ = ["CLIENT_OPERATIONS", "OPERATIONS", "client_channel", "worker_channel"]

log = logging.getLogger("mainspring.server")


#: Longest a commit left behind an answer waits for that answer's frame to be written (see after_answer).
_AFTER_ANSWER_LIMIT = 0.5

#: A connection reads no more requests while more than this many bytes of its answers wait to be written
#: (see _Connection.room): a peer that sent requests and never read the answers once made the server
#: hold 1.5 GB of them in four seconds.
_OUTBOX_LIMIT = 32 * 1024 * 1024


#: op -> operation, for each channel (derived from the operation table: see ``_operations``).
OPERATIONS: dict[str, Operation] = {op.name: op for op in ALL_OPERATIONS if op.worker}
CLIENT_OPERATIONS: dict[str, Operation] = {op.name: op for op in ALL_OPERATIONS if op.client}


def _error(status: int, code: str, message: str) -> dict[str, Any]:
    return ErrorAnswer(status, code, message).channel_error()


def _body(model: type[BaseModel] | None, raw: Any, session: Session | None, op: str) -> Any:
    if model is None:
        return None
    if model is m.PollRequest and session is not None and isinstance(raw, dict):
        raw = {**raw, "session_id": session.id}  # the connection is the session
    return validate(model, raw, f"invalid {op}")


class ProtocolError(Exception):
    """The peer broke the channel's protocol: it is told why, and the connection is closed with ``code``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def _receive(websocket: WebSocket) -> list[dict[str, Any]]:
    """The messages of the next frame: one JSON object, or an array of them."""
    frame = await websocket.receive()
    if frame["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(frame.get("code", 1000))
    text = frame.get("text")
    if text is None:
        raise ProtocolError(1003, "frames must be text holding JSON, not binary")
    try:
        data = loads(text)
    except ValueError as e:
        raise ProtocolError(1007, f"a frame is not valid JSON ({e})") from None
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(item, dict) for item in items):
        raise ProtocolError(1003, "a frame must hold a JSON object (a message) or an array of objects")
    for item in items:
        # An id is echoed in the answer and looked up among the server's requests: a list or an object
        # there once raised a traceback and dropped the connection, and one nested a thousand deep made
        # an answer that could not be written.
        for key in ("i", "q"):
            if not isinstance(item.get(key), _ID_TYPES):
                raise ProtocolError(1003, f"a message's {key!r} (its id) must be an integer or a string")
    return items


_ID_TYPES = (int, str, type(None))


async def _refuse(conn: _Connection, e: ProtocolError) -> None:
    """Tell the peer what it did wrong, then close with the matching code."""
    log.info("closing a channel: %s", e.message)
    await conn.send({"i": None, "err": _error(400, "protocol_error", e.message)})
    conn.close_code = e.code


class _Connection:
    """One open channel: reads messages, runs each operation as its own task, answers in any order."""

    def __init__(
        self,
        engine: Engine,
        websocket: WebSocket,
        operations: dict[str, Operation],
        allowed: frozenset[str] | None = None,
    ):
        self.engine = engine
        self.websocket = websocket
        self.operations = operations
        #: The operations the caller may call on this connection (its role's), or None: no checks.
        self.allowed = allowed
        self.principal: Principal | None = websocket.scope.get("mainspring.principal") if allowed is not None else None
        #: Who changed what (auth on only: see _audit).
        self.audit = engine.audit if allowed is not None else None
        client = websocket.client
        self.peer = client.host if client is not None else None
        self._send_lock = asyncio.Lock()
        #: Answers queued, as JSON text, and the bytes of those not written yet (queued or being sent).
        self._outbox: list[str] = []
        self._unsent = 0
        self._room = asyncio.Event()
        self._room.set()
        self._flusher: asyncio.Handle | None = None
        #: To run once the answers queued so far are written (AFTER_ANSWER).
        self._after_flush: list[Callable[[], None]] = []
        self._after_flush_deadline: asyncio.TimerHandle | None = None
        #: Operations that only wait (polls, result waits): abandoned when the connection closes.
        self.waits: set[asyncio.Task[None]] = set()
        self.running: set[asyncio.Task[None]] = set()
        #: The server's own requests to the peer, waiting for their answers ("q" -> future).
        self._requests: dict[int, asyncio.Future[Any]] = {}
        self._request_ids = itertools.count(1)
        self.closed = False
        #: The close code to send when the connection ends (set when the peer broke the protocol).
        self.close_code = 1000
        #: Set once the connection is being closed by the server for its credentials (revoked, expired).
        self._ending = False

    def end(self, reason: str) -> None:
        """Close the connection for its credentials (policy violation, 1008, with ``reason``), once."""
        if self._ending:
            return
        self._ending = True
        self.close_code = 1008

        async def close() -> None:
            try:
                await self.websocket.close(1008, reason)
            except (RuntimeError, WebSocketDisconnect):  # closed meanwhile
                pass

        task = asyncio.ensure_future(close())
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    def expired(self) -> None:
        """The token the connection was opened with has expired: close it, saying so."""
        if not self._ending:
            assert self.principal is not None
            log.warning("closing a channel of %s: its token expired", self.principal.name)
        self.end(CHANNEL_TOKEN_EXPIRED)

    async def send(self, message: dict[str, Any]) -> None:
        """Queue an answer. Answers queued in the same turn of the event loop (many operations finish
        together when one commit makes them all durable) go out as one frame, a JSON array."""
        self._queue(message)

    def _queue(self, message: dict[str, Any]) -> None:
        text = dumps_str(message)
        self._outbox.append(text)
        self._unsent += len(text)
        if self._unsent > _OUTBOX_LIMIT:
            self._room.clear()
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().call_soon(self._start_flush)

    # --- messages the server starts (the session's WorkerLink) ---------------------------------------

    def notify(self, op: str, body: dict[str, Any]) -> None:
        """Tell the worker something; no answer is expected."""
        if not self.closed:
            self._queue({"op": op, "b": body})

    async def request(self, op: str, body: dict[str, Any], timeout: float) -> Any:
        """Ask the worker something; its answer, or TimeoutError, ConnectionError or an RPCError."""
        if self.closed:
            raise ConnectionError("the worker's channel is closed")
        q = next(self._request_ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._requests[q] = future
        self._queue({"q": q, "op": op, "b": body})
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._requests.pop(q, None)

    def answered(self, message: dict[str, Any]) -> None:
        """The worker answered one of the server's requests."""
        future = self._requests.get(message.get("q"))  # type: ignore[arg-type]
        if future is None or future.done():
            return
        err = message.get("err")
        if err is None:
            future.set_result(message.get("ok"))
        else:
            if not isinstance(err, dict):
                err = {}
            message_text = str(err.get("message", ""))
            status = err.get("status")
            if not isinstance(status, int) or not 400 <= status <= 599:
                status = 500
            future.set_exception(RPCError(message_text, status=status, code=str(err.get("code", "error"))))

    def _start_flush(self) -> None:
        task = asyncio.ensure_future(self._flush())
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def room(self) -> None:
        """Wait until the answers waiting to be written are few enough to read more requests. A peer that
        does not read its answers is then not read either: its pings go unanswered and it is dropped."""
        await self._room.wait()

    async def _flush(self) -> None:
        try:
            async with self._send_lock:
                while self._outbox:
                    batch, self._outbox = self._outbox, []
                    await self.websocket.send_text(batch[0] if len(batch) == 1 else "[" + ",".join(batch) + "]")
                    self._unsent -= sum(map(len, batch))
                    if self._unsent <= _OUTBOX_LIMIT:
                        self._room.set()
        except (WebSocketDisconnect, RuntimeError):
            self._outbox.clear()  # the peer is gone
            self._unsent = 0
            self._room.set()
        finally:
            self._flusher = None
            self._run_after_flush()

    def after_answer(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the answers queued so far (and the one being made) are written, or
        after _AFTER_ANSWER_LIMIT seconds if writing them takes longer (a peer that does not read)."""
        if not self._after_flush:
            loop = asyncio.get_running_loop()
            self._after_flush_deadline = loop.call_later(_AFTER_ANSWER_LIMIT, self._run_after_flush)
        self._after_flush.append(callback)

    def _run_after_flush(self) -> None:
        # Each one holds an execution's lock until it has run (a commit left behind an answer): they
        # run whether or not the peer is there, and whether or not it reads.
        if self._after_flush_deadline is not None:
            self._after_flush_deadline.cancel()
            self._after_flush_deadline = None
        while self._after_flush:
            callbacks, self._after_flush = self._after_flush, []
            for callback in callbacks:
                try:
                    callback()
                except Exception:
                    log.exception("a step after an answer failed to start")

    def start(self, i: Any, name: str, raw: Any, caller: Caller) -> None:
        op = self.operations.get(name)
        task = asyncio.ensure_future(self._serve(i, name, op, raw, caller))
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        if op is not None and op.waits:
            self.waits.add(task)
            task.add_done_callback(self.waits.discard)
        else:
            self.engine.operations += 1
            task.add_done_callback(self._operation_done)

    def _operation_done(self, _task: asyncio.Task[None]) -> None:
        self.engine.operations -= 1

    async def _serve(self, i: Any, name: str, op: Operation | None, raw: Any, caller: Caller) -> None:
        AFTER_ANSWER.set(self.after_answer)  # in this task's context only
        try:
            if op is None:
                raise InvalidArgumentError(f"unknown operation {name!r}", code="invalid_argument")
            if self.allowed is not None:
                principal = self.principal
                assert principal is not None
                if principal.expires_at is not None and time.time() >= principal.expires_at:
                    # The close (``_watch_principal``) may not have landed yet: the token is refused all the same.
                    self.expired()
                    raise UnauthenticatedError(CHANNEL_TOKEN_EXPIRED, code=TOKEN_EXPIRED)
                if name not in self.allowed:
                    authorize(principal, op.access, caller.namespace, name.replace("_", " "))
            body = _body(op.request, raw, caller.session, name)
            metrics = self.engine.metrics
            tracing = self.engine.tracing
            if tracing is not None and name not in UNTRACED:
                result = await self._traced(tracing, op, name, raw, caller, body)
            elif metrics is None:
                result = await op.call(self.engine, caller, body)
            else:
                t0 = time.perf_counter()
                try:
                    result = await op.call(self.engine, caller, body)
                finally:
                    metrics.operation(name, time.perf_counter() - t0)
            await self.send({"i": i, "ok": result})
            if self.audit is not None and audited(op):
                self.audit.record(self.principal, name, caller.namespace, body, 200, self.peer)
        except (RPCError, StorageError) as e:
            answer = answer_for(e)
            if self.engine.metrics is not None:
                self.engine.metrics.operation_failed(name if op is not None else "unknown", answer.code)
            if self.audit is not None and op is not None and audited(op):
                self.audit.record(self.principal, name, caller.namespace, raw, answer.status, self.peer)
            await self._send_error(i, answer.channel_error())
        except asyncio.CancelledError:
            raise
        except (WebSocketDisconnect, RuntimeError):
            pass  # the peer went away while we answered
        except Exception as e:
            log.exception("internal error in channel operation %s", name)
            await self._send_error(i, _error(500, "internal", f"internal server error: {type(e).__name__}: {e}"))

    async def _traced(
        self, tracing: ServerTracing, op: Operation, name: str, raw: Any, caller: Caller, body: Any
    ) -> Any:
        """``op.call`` within its span (``_tracing``: the parent is the one the request's header field carries),
        timed for the metrics too if they are on."""
        metrics = self.engine.metrics
        with tracing.span(name, "channel", None, raw) as span:
            t0 = time.perf_counter()
            try:
                return await op.call(self.engine, caller, body)
            except RPCError as e:
                span.set_attribute("mainspring.error_code", e.code)
                raise
            finally:
                if metrics is not None:
                    metrics.operation(name, time.perf_counter() - t0)

    async def _send_error(self, i: Any, error: dict[str, Any]) -> None:
        try:
            await self.send({"i": i, "err": error})
        except (WebSocketDisconnect, RuntimeError):
            pass

    async def finish(self) -> None:
        # Waiting operations are abandoned (a task a poll holds goes back to its queue). Anything else
        # runs to its end: a transition cut short between its commit and its effects would strand work.
        self.closed = True
        for future in self._requests.values():
            if not future.done():
                future.set_exception(ConnectionError("the worker disconnected before it answered"))
        for task in list(self.waits):
            task.cancel()
        if self.running:
            await asyncio.gather(*self.running, return_exceptions=True)
        if self._flusher is not None:  # answers queued but not sent yet (e.g. the last error)
            self._flusher.cancel()
            self._flusher = None
        if self._outbox:
            await self._flush()
        self._run_after_flush()
        try:
            await self.websocket.close(self.close_code)
        except (RuntimeError, WebSocketDisconnect):  # already closed by the peer
            pass


async def _admitted(
    engine: Engine, websocket: WebSocket, namespace: str, access: Access, operations: dict[str, Operation]
) -> tuple[bool, frozenset[str] | None]:
    """With auth on, whether the caller (found by the AuthGate) may open this channel (it needs ``access``
    in ``namespace``; False once the handshake is refused), and the names of the operations it may call
    on it (None: no checks)."""
    if not engine.auth.enabled:
        return True, None
    principal: Principal | None = websocket.scope.get("mainspring.principal")
    try:
        if principal is None:
            raise UnauthenticatedError(NO_CREDENTIALS, code="unauthenticated")
        authorize(
            principal, access, namespace, f"opening the {'worker' if access is Access.WORK else 'client'} channel"
        )
    except (UnauthenticatedError, PermissionDeniedError) as e:
        status = 401 if isinstance(e, UnauthenticatedError) else 403
        await refuse_handshake(Refusal(status, e.code, e.message), websocket.scope, websocket.receive, websocket.send)
        return False, None
    return True, frozenset(name for name, op in operations.items() if principal.may(op.access, namespace))


def _watch_principal(engine: Engine, conn: _Connection) -> Callable[[], None] | None:
    """A channel opened with an API key closes when the key is revoked, one opened with a token when the token
    expires (policy violation, 1008, with a reason that says which); the call that stops watching, or None."""
    principal = conn.principal
    if principal is None:
        return None
    stops: list[Callable[[], None]] = []
    if principal.key_id is not None:

        def revoked() -> None:
            log.warning("closing a channel of %s: its key was revoked", principal.name)
            conn.end("the API key was revoked")

        stops.append(engine.auth.watch(principal.key_id, revoked))
    if principal.expires_at is not None:
        # (Unix time, so the wall clock: a timer of the loop's clock, set for what is left now.)
        timer = asyncio.get_running_loop().call_later(max(0.0, principal.expires_at - time.time()), conn.expired)
        stops.append(timer.cancel)
    if not stops:
        return None

    def stop() -> None:
        for each in stops:
            each()

    return stop


async def worker_channel(engine: Engine, websocket: WebSocket) -> None:
    """Serve one worker's connection until it closes; then end its session."""
    namespace = websocket.path_params["namespace"]
    admitted, allowed = await _admitted(engine, websocket, namespace, Access.WORK, OPERATIONS)
    if not admitted:
        return
    await websocket.accept()
    conn = _Connection(engine, websocket, OPERATIONS, allowed)
    unwatch = _watch_principal(engine, conn)
    session: Session | None = None
    graceful = False
    try:
        problem = check_namespace(namespace)
        if problem is not None:
            await conn.send({"i": 0, "err": _error(400, "invalid_argument", problem)})
            return
        first = (await _receive(websocket))[0]
        caller = Caller(namespace, principal=conn.principal)
        try:
            if first.get("op") != "register":
                raise InvalidArgumentError(
                    "the first message must register the worker (op 'register')", code="invalid_argument"
                )
            req = _body(_REGISTER.request, first.get("b"), None, "register")
            settings = await _REGISTER.call(engine, caller, req)
        except (RPCError, StorageError) as e:
            await conn.send({"i": first.get("i"), "err": answer_for(e).channel_error()})
            return
        session = caller.session
        assert session is not None
        session.on_channel = True
        session.link = conn
        await conn.send({"i": first.get("i"), "ok": settings})
        # Every operation on this connection is its session's; a task outcome's namespace is the session's.
        caller = Caller(session.namespace, session, principal=conn.principal)
        while not graceful:
            await conn.room()
            for message in await _receive(websocket):
                if "op" not in message and "q" in message:
                    conn.answered(message)  # the worker answers a request of the server's
                    continue
                op = str(message.get("op"))
                if op == "bye":
                    graceful = True
                    break
                conn.start(message.get("i"), op, message.get("b"), caller)
    except WebSocketDisconnect:
        pass
    except ProtocolError as e:
        await _refuse(conn, e)
    finally:
        if unwatch is not None:
            unwatch()
        try:
            await conn.finish()
        finally:
            if session is not None and not session.closed:
                if not graceful:
                    log.warning("worker %s disconnected; handing its tasks to other workers", session.identity)
                await engine.session_lost(session, graceful=graceful)


#: The handshake of the worker channel is this operation (op "register").
_REGISTER = BY_NAME["register_worker"]


async def client_channel(engine: Engine, websocket: WebSocket) -> None:
    """Serve one client's connection: starts and result waits, many at a time."""
    namespace = websocket.path_params["namespace"]
    admitted, allowed = await _admitted(engine, websocket, namespace, Access.READ, CLIENT_OPERATIONS)
    if not admitted:
        return
    await websocket.accept()
    conn = _Connection(engine, websocket, CLIENT_OPERATIONS, allowed)
    unwatch = _watch_principal(engine, conn)
    try:
        problem = check_namespace(namespace)
        if problem is not None:
            await conn.send({"i": 0, "err": _error(400, "invalid_argument", problem)})
            return
        caller = Caller(namespace, principal=conn.principal)
        while True:
            await conn.room()
            for message in await _receive(websocket):
                conn.start(message.get("i"), str(message.get("op")), message.get("b"), caller)
    except WebSocketDisconnect:
        pass
    except ProtocolError as e:
        await _refuse(conn, e)
    finally:
        if unwatch is not None:
            unwatch()
        await conn.finish()
