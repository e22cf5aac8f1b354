"""The client: start workflows, get handles to them (``_handle``), list them."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, overload

from .._answers import TOKEN_EXPIRED
from .._codec import WireCodec
from .._start_options import lifetime_body, start_options_body
from ..api.enums import WorkflowStatus
from ..api.names import check_namespace
from ..converter import DataConverter, PayloadError, encode
from ..errors import (
    InvalidArgumentError,
    RPCError,
    ServerUnavailableError,
    UnauthenticatedError,
)
from ..interceptors import Call, CallKind, Interceptor
from ..options import _START_WORKFLOW_KEYWORDS, StartWorkflowOptions
from ..runtime import Runtime
from ..workflow import get_definition
from ._async_activity import AsyncActivityHandle
from ._batch import BatchClient
from ._channel import Channel
from ._handle import WorkflowDescription, WorkflowHandle, WorkflowPage
from ._intercepting import intercepted, joined
from ._listing import WorkflowExecutionAsyncIterator, WorkflowExecutionCount
from ._retry import retrying as _retrying
from ._schedules import ScheduleClient
from ._stuck import StuckWatch
from ._tls import TLSConfig, tls_from_env
from ._transport import ApiKeyProvider, Transport, outcome_unknown
from ._updates import WorkflowUpdateHandle, WorkflowUpdateStage
from ._with_start import WithStartWorkflowOperation

if TYPE_CHECKING:
    from ..workflow import Context
    from ..workflow._definition import WorkflowFunction
    from ..workflow._handlers import RunMethod, UpdateMethod

__all__ = ["Client", "WorkflowDescription", "WorkflowHandle", "WorkflowPage"]

A = TypeVar("A")
R = TypeVar("R")
S = TypeVar("S")
T = TypeVar("T")
#: An update's result (R is the workflow's, on a handle).
U = TypeVar("U")

#: The server's warnings about a start (no worker on the queue runs its type) go to a logger of their
#: own, so a program that shows them itself (the CLI) can silence just these.
start_log = logging.getLogger("mainspring.client.start")
log = logging.getLogger("mainspring.client")

#: Client channel calls that change nothing, so they go again on another server without a second thought.
_READS = frozenset({"wait_result", "query_workflow", "poll_workflow_update"})


def _start_signal(options: dict[str, Any]) -> tuple[str, Any] | None:
    """The signal of a signal-with-start (its name and encoded payload), or None for a plain start."""
    name = options.get("start_signal")
    args = options.get("start_signal_args")
    if name is None:
        if args is not None:
            raise TypeError("start_workflow() got start_signal_args without start_signal: name the signal to send")
        return None
    if args is None:
        args = ()
    if isinstance(args, (str, bytes)):
        raise TypeError(
            f"start_signal_args must be a list of the signal's arguments, got {type(args).__name__} {args!r} "
            f"(for one string payload: start_signal_args=[{args!r}])"
        )
    if len(args) > 1:
        raise ValueError(
            f"start_signal_args holds at most one value (a signal handler takes at most one payload), got "
            f"{len(args)}: bundle them in one dataclass"
        )
    try:
        payload = encode(args[0]) if args else None
    except PayloadError as e:
        raise InvalidArgumentError(f"the payload of signal {name!r} cannot be sent: {e}") from None
    return name, payload


class Client(ScheduleClient, BatchClient):
    """A connection to a Mainspring server, for one namespace.

    ``await Client.connect()`` uses ``$MAINSPRING_ADDRESS`` or localhost:7233. The connection is
    made on first use, so a client can be created before the server is up.
    """

    def __init__(
        self,
        transport: Transport,
        namespace: str = "default",
        *,
        channel: bool = True,
        runtime: Runtime | None = None,
        data_converter: DataConverter | None = None,
        interceptors: Sequence[Interceptor] = (),
    ) -> None:
        problem = check_namespace(namespace)
        if problem:
            raise InvalidArgumentError(problem, code="invalid_argument")
        self.transport = transport
        self.namespace = namespace
        #: How payloads are converted and encoded (``mainspring.converter``); its workers use it too.
        self.data_converter = data_converter or DataConverter.default
        codec = self.data_converter.payload_codec
        # On the transport, so every request and answer (HTTP and channels, this client's and its
        # workers') goes through the codec, and nothing else changes when there is none.
        transport.codec = (
            WireCodec(codec, encode_failures=self.data_converter.encode_failure_attributes)
            if codec is not None
            else None
        )
        #: The telemetry its workers report through (``mainspring.runtime``; none by default).
        self.runtime = runtime or Runtime.default()
        #: Called around its calls to workflows, and by its workers (``mainspring.interceptors``); none by default.
        self.interceptors: tuple[Interceptor, ...] = tuple(interceptors)
        #: Start workflows and wait for results over one WebSocket (many at a time, much cheaper per
        #: call than HTTP requests); False, or a server without it, means plain HTTP requests.
        self._use_channel = channel
        self._channel: Channel | None = None
        self._channel_lock = asyncio.Lock()
        self._stuck = StuckWatch(self._describe_raw)

    @classmethod
    async def connect(
        cls,
        address: str | Sequence[str] | None = None,
        *,
        namespace: str = "default",
        timeout: float = 10.0,
        channel: bool = True,
        runtime: Runtime | None = None,
        api_key: str | None = None,
        api_key_provider: ApiKeyProvider | None = None,
        tls: bool | TLSConfig | None = None,
        data_converter: DataConverter | None = None,
        interceptors: Sequence[Interceptor] = (),
    ) -> Client:
        """A client for the server at ``address`` (host:port or URL).

        ``address`` may also list several servers (``["a:7233", "b:7233"]`` or ``"a:7233,b:7233"``): the
        client (and any worker built on it) talks to one at a time and moves to the next when it cannot
        be reached. A malformed address raises ``InvalidAddressError`` (a ``ValueError``) here.

        ``timeout`` bounds each request (waits for results are long-polls and renew themselves).
        ``channel=False`` makes every call a plain HTTP request, which suits one-shot tools.
        ``runtime``: where the workers on this client report their metrics (``mainspring.runtime``).
        ``api_key``: the key to send a server that checks who calls (``server start --auth api-key``), as
        ``Authorization: Bearer <key>`` on every request and channel; None reads ``MAINSPRING_API_KEY``.
        ``api_key_provider``: a function (or coroutine function) that returns a fresh key, for short-lived ones
        (OIDC tokens): called now, before each channel is opened (a worker's after the server closed its
        channel as its token expired, say), and when a request is refused as its token expired (then sent
        again); ``api_key`` then need not be given. Without one, set ``client.api_key`` to renew a token.

        ``tls``: ``True`` for TLS with the system's CAs, a ``TLSConfig`` for a CA of your own, another name
        to check the certificate against, or a client certificate (mutual TLS); ``False`` for plain HTTP.
        Unset (None), it is what ``MAINSPRING_TLS``, ``MAINSPRING_TLS_CA``, ``MAINSPRING_TLS_CERT`` and
        ``MAINSPRING_TLS_KEY`` say (as for the CLI), else plain HTTP. An ``https://`` address means TLS.
        A certificate that cannot be loaded raises ``InvalidArgumentError`` here; a handshake that fails
        raises ``TLSError`` (a ``ServerUnavailableError``) at the first call, saying what to fix.

        ``data_converter``: with a ``payload_codec`` (``mainspring.converter.DataConverter``), every payload
        this client and its workers send is encoded by it (encrypted, compressed) and every one they
        receive decoded; the server sees only the encoded form.
        ``interceptors``: called around its starts, signals and queries, and by every worker built on it around
        workflow runs and activities (``mainspring.interceptors``; ``mainspring.contrib.opentelemetry``).
        """
        if api_key is None:
            api_key = os.environ.get("MAINSPRING_API_KEY") or None
        if tls is None:
            config = tls_from_env()
        elif isinstance(tls, bool):
            config = TLSConfig() if tls else None
        else:
            config = tls
        transport = Transport(address, timeout=timeout, tls=config, api_key=api_key)
        if api_key_provider is not None:
            transport.api_key_provider = api_key_provider
            await transport.renew_key()
        return cls(
            transport,
            namespace,
            channel=channel,
            runtime=runtime,
            data_converter=data_converter,
            interceptors=interceptors,
        )

    async def close(self) -> None:
        """Close the connections; the client cannot be used afterwards."""
        self._stuck.close()
        if self._channel is not None:
            await self._channel.close(graceful=False)
            self._channel = None
        await self.transport.close()

    async def _open_channel(self) -> Channel | None:
        """The client channel, opened if needed (on the next address if the one in use cannot be reached,
        within ``timeout``); None if the server offers none."""
        channel = self._channel
        if channel is not None and not channel.closed.is_set():
            return channel
        async with self._channel_lock:
            channel = self._channel
            if channel is not None and not channel.closed.is_set():
                return channel
            if not self._use_channel:
                return None
            deadline = time.monotonic() + self.transport.timeout
            pause = 0.1
            tries = 0
            while True:
                channel = Channel(self.transport, self._path("/clients/connect"))
                try:
                    await channel.open()
                    break
                except RPCError as e:
                    if e.code == "no_channel":
                        self._use_channel = False  # an older server, or a proxy without WebSockets
                        return None
                    if e.code != "unavailable" or len(self.transport.addresses) == 1:
                        raise
                    self.transport.failed(channel.address)
                    tries += 1
                    if self.transport.round_done(tries):
                        if time.monotonic() + pause > deadline:
                            raise
                        await asyncio.sleep(pause)
                        pause = min(pause * 2, 2.0)
            self._channel = channel
            return channel

    async def _channel_call(self, op: str, body: dict[str, Any], timeout: float) -> Any:
        """Call ``op`` on the client channel, opening it if needed; NotImplemented if there is none.

        With several addresses, a call cut off by a channel that broke goes again on the next server
        if it is safe to repeat (every call on this channel is: reads, and writes that carry a request
        or update id); otherwise ``ServerUnavailableError`` (``outcome_unknown``) says it may have been done.
        """
        deadline = time.monotonic() + max(timeout, self.transport.timeout)
        renewed = False
        while True:
            channel = await self._open_channel()
            if channel is None:
                return NotImplemented
            try:
                return await channel.call(op, body, timeout=timeout)
            except UnauthenticatedError as e:
                # Refused, before anything was done, as the channel's token expired (the server is closing
                # it): once more on a new channel, which carries the key as it is now (``api_key``).
                if e.code != TOKEN_EXPIRED or renewed:
                    raise
                renewed = True
                await channel.close(graceful=False)
            except ServerUnavailableError:
                if not channel.closed.is_set() or len(self.transport.addresses) == 1:
                    raise
                if not (op in _READS or any(body.get(k) for k in ("request_id", "update_id"))):
                    raise outcome_unknown(channel.address, op) from None
                self.transport.failed(channel.address)
                if time.monotonic() > deadline:
                    raise

    async def _describe_raw(self, workflow_id: str, run_id: str | None) -> dict[str, Any]:
        data: dict[str, Any] = await self._call(
            "GET", "/workflows/describe", params={"workflow_id": workflow_id, "run_id": run_id}
        )
        return data

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def address(self) -> str:
        """The server address this client talks to now, as given (host:port or URL)."""
        return self.transport.address

    @property
    def api_key(self) -> str | None:
        """The key sent to the server (``Client.connect(api_key=...)``); set it to rotate a key or renew a
        token: requests and channels opened from then on carry the new one (as Temporal's ``client.api_key``)."""
        return self.transport.api_key

    @api_key.setter
    def api_key(self, key: str | None) -> None:
        self.transport.api_key = key

    @property
    def addresses(self) -> list[str]:
        """Every server address this client may talk to, in the order it tries them."""
        return list(self.transport.addresses)

    def _path(self, suffix: str) -> str:
        return f"/api/v1/namespaces/{self.namespace}{suffix}"

    async def _call(self, method: str, suffix: str, **kwargs: Any) -> Any:
        return await self.transport.call(method, self._path(suffix), **kwargs)

    async def health(self) -> dict[str, Any]:
        """The server's status and version; raises ``ServerUnavailableError`` if it is down."""
        result: dict[str, Any] = await self.transport.call("GET", "/api/v1/health")
        return result

    # --- starting workflows ----------------------------------------------------------------------------
    # One overload per shape of workflow (with or without an input, or by name), each taking the options
    # as one TypedDict (``StartWorkflowOptions``), so a new option is one edit there. Class workflows'
    # ``run`` methods will be two more shapes of the same kind.

    @overload
    async def start_workflow(
        self, workflow: RunMethod[S, [], R], **options: Unpack[StartWorkflowOptions]
    ) -> WorkflowHandle[S, R]: ...

    @overload
    async def start_workflow(
        self, workflow: RunMethod[S, [A], R], arg: A, **options: Unpack[StartWorkflowOptions]
    ) -> WorkflowHandle[S, R]: ...

    @overload
    async def start_workflow(
        self, workflow: WorkflowFunction[[Context], Awaitable[R]], **options: Unpack[StartWorkflowOptions]
    ) -> WorkflowHandle[Any, R]: ...

    @overload
    async def start_workflow(
        self, workflow: WorkflowFunction[[Context, A], Awaitable[R]], arg: A, **options: Unpack[StartWorkflowOptions]
    ) -> WorkflowHandle[Any, R]: ...

    @overload
    async def start_workflow(
        self, workflow: str, arg: Any = ..., *, result_type: type[R], **options: Unpack[StartWorkflowOptions]
    ) -> WorkflowHandle[Any, R]: ...

    @overload
    async def start_workflow(
        self, workflow: str, arg: Any = ..., **options: Unpack[StartWorkflowOptions]
    ) -> WorkflowHandle[Any, Any]: ...

    async def start_workflow(
        self, workflow: Any, arg: Any = None, *, result_type: Any = None, **options: Any
    ) -> WorkflowHandle[Any, Any]:
        """Start a workflow and return a handle to it (without waiting for it to finish).

        ``workflow`` is a function decorated with ``@workflow.defn``, a class workflow's ``run`` method
        (``GreetingWorkflow.run``; typed either way: the argument must fit its input type and the handle's
        result has its result type, and a class's handle its signals) or a workflow type name, in
        which case ``arg`` is sent as JSON as it is and ``result_type``, if given, types the result.
        The options (``StartWorkflowOptions``): ``id`` and ``task_queue`` (required), ``request_id``, and
        ``start_signal`` / ``start_signal_args`` for signal-with-start (then a running run of the id is
        signalled instead of refused, and the handle is to it).
        Raises ``TypeError`` for an unknown or missing option or one of the wrong type,
        ``AlreadyStartedError`` if a workflow with this id is running (without ``start_signal``),
        ``InvalidArgumentError`` if the input, the signal's payload or an option's value does not fit.
        """
        _START_WORKFLOW_KEYWORDS.check(options)
        start_signal = _start_signal(options)
        if isinstance(workflow, str):
            name, rtype, takes_input = workflow, result_type, True
        else:
            d = get_definition(workflow)
            name, rtype, takes_input = d.name, d.result_type, d.takes_input
        try:
            payload = encode(arg) if takes_input else None
        except PayloadError as e:
            raise InvalidArgumentError(f"the input of workflow {name!r} cannot be sent: {e}") from None
        workflow_id: str = options["id"]
        body = {
            "workflow_id": workflow_id,
            "workflow_type": name,
            "task_queue": options["task_queue"],
            "input": payload,
            # Retries carry the same request id: the server starts the run once, and answers a repeat
            # with the run the first one started.
            "request_id": options.get("request_id") or str(uuid.uuid4()),
            **start_options_body(options),  # the id policies, start delay, memo, task timeout
            **lifetime_body(options),  # the workflow's lifetime: its timeouts and retry policy
            **_search_attributes_body(options),
        }

        op, path = "start_workflow", "/workflows"
        if start_signal is not None:
            op, path = "signal_with_start_workflow", "/workflows/signal-with-start"
            body["signal_name"], body["signal_input"] = start_signal

        async def start() -> Any:
            data = await self._channel_call(op, body, self.transport.timeout)
            if data is NotImplemented:
                data = await self._call("POST", path, body=body)
            return data

        if self.interceptors:
            kind = CallKind.START_WORKFLOW if start_signal is None else CallKind.SIGNAL_WITH_START_WORKFLOW
            data = await intercepted(self.interceptors, Call(kind, name, workflow_id), body, lambda: _retrying(start))
        else:
            data = await _retrying(start)
        run_id = data["run_id"]
        handle: WorkflowHandle[Any, Any] = WorkflowHandle(
            self, workflow_id, run_id, rtype, first_execution_run_id=run_id
        )
        warning = data.get("warning")
        if isinstance(warning, str) and warning:
            handle.start_warning = warning
            start_log.warning("workflow %r: %s", workflow_id, warning)
        return handle

    @overload
    async def execute_workflow(self, workflow: RunMethod[S, [], R], **options: Unpack[StartWorkflowOptions]) -> R: ...

    @overload
    async def execute_workflow(
        self, workflow: RunMethod[S, [A], R], arg: A, **options: Unpack[StartWorkflowOptions]
    ) -> R: ...

    @overload
    async def execute_workflow(
        self, workflow: WorkflowFunction[[Context], Awaitable[R]], **options: Unpack[StartWorkflowOptions]
    ) -> R: ...

    @overload
    async def execute_workflow(
        self, workflow: WorkflowFunction[[Context, A], Awaitable[R]], arg: A, **options: Unpack[StartWorkflowOptions]
    ) -> R: ...

    @overload
    async def execute_workflow(
        self, workflow: str, arg: Any = ..., *, result_type: type[R], **options: Unpack[StartWorkflowOptions]
    ) -> R: ...

    @overload
    async def execute_workflow(self, workflow: str, arg: Any = ..., **options: Unpack[StartWorkflowOptions]) -> Any: ...

    async def execute_workflow(self, workflow: Any, arg: Any = None, *, result_type: Any = None, **options: Any) -> Any:
        """Start a workflow and wait for its result (``start_workflow`` then ``result``); the same options."""
        handle: WorkflowHandle[Any, Any] = await self.start_workflow(workflow, arg, result_type=result_type, **options)
        return await handle.result()

    @overload
    def get_workflow_handle(
        self, workflow_id: str, *, run_id: str | None = ..., result_type: type[R]
    ) -> WorkflowHandle[Any, R]: ...

    @overload
    def get_workflow_handle(self, workflow_id: str, *, run_id: str | None = ...) -> WorkflowHandle[Any, Any]: ...

    def get_workflow_handle(
        self, workflow_id: str, *, run_id: str | None = None, result_type: Any = None
    ) -> WorkflowHandle[Any, Any]:
        """A handle to an existing workflow (its newest run unless ``run_id`` is given).

        ``result_type`` is the type its result is decoded to (and typed as); without it the
        result is plain JSON.
        """
        return WorkflowHandle(self, workflow_id, run_id, result_type)

    # --- update-with-start -----------------------------------------------------------------------------------

    @overload
    async def execute_update_with_start_workflow(
        self,
        update: UpdateMethod[S, [], U],
        /,
        *,
        start_workflow_operation: WithStartWorkflowOperation[S, Any],
        id: str | None = ...,
        rpc_timeout: timedelta | None = ...,
    ) -> U: ...

    @overload
    async def execute_update_with_start_workflow(
        self,
        update: UpdateMethod[S, [A], U],
        arg: A,
        /,
        *,
        start_workflow_operation: WithStartWorkflowOperation[S, Any],
        id: str | None = ...,
        rpc_timeout: timedelta | None = ...,
    ) -> U: ...

    async def execute_update_with_start_workflow(
        self,
        update: Any,
        arg: Any = None,
        /,
        *,
        start_workflow_operation: WithStartWorkflowOperation[Any, Any],
        id: str | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> Any:
        """Start the operation's workflow (or, with ``WorkflowIDConflictPolicy.USE_EXISTING``, the default, take
        the run of its id that is running), send it the update and wait for its result. Repeating the call
        after a failure is safe: the start has one request id and the update one id, each applied once.
        ``await start_workflow_operation.workflow_handle()`` is the run's handle afterwards."""
        handle: WorkflowUpdateHandle[Any] = await self.start_update_with_start_workflow(
            update,
            arg,
            start_workflow_operation=start_workflow_operation,
            wait_for_stage=WorkflowUpdateStage.COMPLETED,
            id=id,
            rpc_timeout=rpc_timeout,
        )
        return await handle.result(timeout=None if rpc_timeout is None else rpc_timeout.total_seconds())

    @overload
    async def start_update_with_start_workflow(
        self,
        update: UpdateMethod[S, [], U],
        /,
        *,
        start_workflow_operation: WithStartWorkflowOperation[S, Any],
        wait_for_stage: WorkflowUpdateStage,
        id: str | None = ...,
        rpc_timeout: timedelta | None = ...,
    ) -> WorkflowUpdateHandle[U]: ...

    @overload
    async def start_update_with_start_workflow(
        self,
        update: UpdateMethod[S, [A], U],
        arg: A,
        /,
        *,
        start_workflow_operation: WithStartWorkflowOperation[S, Any],
        wait_for_stage: WorkflowUpdateStage,
        id: str | None = ...,
        rpc_timeout: timedelta | None = ...,
    ) -> WorkflowUpdateHandle[U]: ...

    async def start_update_with_start_workflow(
        self,
        update: Any,
        arg: Any = None,
        /,
        *,
        start_workflow_operation: WithStartWorkflowOperation[Any, Any],
        wait_for_stage: WorkflowUpdateStage,
        id: str | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> WorkflowUpdateHandle[Any]:
        """As ``execute_update_with_start_workflow``, returning once the update reaches ``wait_for_stage``."""
        op = start_workflow_operation
        if not isinstance(op, WithStartWorkflowOperation):
            raise TypeError(f"start_workflow_operation must be a WithStartWorkflowOperation, not {op!r}")
        if op._update_id is None:
            op._update_id = id or str(uuid.uuid4())  # the same update id for every repeat of this call
        update_id = op._update_id

        async def send() -> WorkflowUpdateHandle[Any]:
            handle = await op._start(self)
            return await handle.start_update(
                update, arg, id=update_id, wait_for_stage=wait_for_stage, rpc_timeout=rpc_timeout
            )

        if not self.interceptors:
            return await send()
        # One call for the interceptors (Temporal's UpdateWithStartWorkflow span): its header goes with both.
        workflow = op.workflow
        name = workflow if isinstance(workflow, str) else get_definition(workflow).name
        call = Call(
            CallKind.UPDATE_WITH_START_WORKFLOW, name, str(op.options.get("id", "")), extra={"update_id": update_id}
        )
        return await joined(self.interceptors, call, send)

    def get_workflow_handle_for(
        self, workflow: RunMethod[S, Any, R], workflow_id: str, *, run_id: str | None = None
    ) -> WorkflowHandle[S, R]:
        """A typed handle to an existing run of a class workflow: ``get_workflow_handle_for(GreetingWorkflow.run,
        "greeting-1")`` has the class's signals and the run method's result type."""
        d = get_definition(workflow)
        return WorkflowHandle(self, workflow_id, run_id, d.result_type)

    # --- async activity completion ---------------------------------------------------------------------

    @overload
    def get_async_activity_handle(self, *, task_token: str) -> AsyncActivityHandle: ...

    @overload
    def get_async_activity_handle(
        self, *, workflow_id: str, activity_id: str, run_id: str | None = None
    ) -> AsyncActivityHandle: ...

    def get_async_activity_handle(
        self,
        *,
        task_token: str | None = None,
        workflow_id: str | None = None,
        activity_id: str | None = None,
        run_id: str | None = None,
    ) -> AsyncActivityHandle:
        """A handle to finish an activity that called ``activity.raise_complete_async()``: by its
        ``task_token`` (``activity.info().task_token``), or by ``workflow_id`` and ``activity_id`` (and
        ``run_id``, else the workflow's newest run). See ``AsyncActivityHandle``."""
        return AsyncActivityHandle(
            self, task_token=task_token, workflow_id=workflow_id, run_id=run_id, activity_id=activity_id
        )

    # --- listing --------------------------------------------------------------------------------------

    def list_workflows(
        self,
        query: str | None = None,
        *,
        status: WorkflowStatus | str | None = None,
        workflow_type: str | None = None,
        workflow_id_prefix: str | None = None,
        limit: int | None = None,
        page_token: str | None = None,
        workflow_id: str | None = None,
        page_size: int = 1000,
    ) -> WorkflowExecutionAsyncIterator:
        """Runs, newest first (``workflow_id``: only that id's runs, e.g. a continue-as-new chain).

        ``query`` (first, as in Temporal's ``client.list_workflows("WorkflowType = 'order'")``) is a list
        filter in Temporal's language, ANDed with the other filters, and its ORDER BY the order:
        ``"WorkflowType = 'order' AND ExecutionStatus = 'Running' ORDER BY StartTime ASC"`` (README,
        "Finding workflows"). A query the server refuses raises ``InvalidQueryError``, whose
        ``position``/``column`` point at the token at fault.

        ``async for wf in client.list_workflows(...)`` for every run it selects (or the first ``limit``),
        across pages of ``page_size`` (``WorkflowExecution`` each); ``.map_histories()`` gives their
        histories, for ``Replayer.replay_workflows``. Or ``await`` it for one page of at most ``limit`` runs
        (100 without one): a ``WorkflowPage``, whose ``next_page_token`` goes to the next call's
        ``page_token``."""
        params = {
            "status": str(status) if status else None,
            "workflow_type": workflow_type,
            "workflow_id_prefix": workflow_id_prefix,
            "workflow_id": workflow_id,
            "query": query or None,
        }

        async def page(most: int, token: str | None) -> WorkflowPage:
            data = await self._call("GET", "/workflows", params={**params, "limit": most, "page_token": token})
            return WorkflowPage(data["executions"], data.get("next_page_token"))

        async def history(wid: str, run_id: str) -> list[dict[str, Any]]:
            return await self.get_workflow_handle(wid, run_id=run_id).fetch_history()

        return WorkflowExecutionAsyncIterator(page, history, limit, page_token, page_size=page_size)

    async def count_workflows(self, query: str | None = None, *, group_by: str | None = None) -> WorkflowExecutionCount:
        """How many runs ``query`` (a list filter, as ``list_workflows`` takes; every run without one)
        selects; ``group_by="ExecutionStatus"`` also counts each status's runs (in ``.groups``)."""
        params = {"query": query or None, "group_by": group_by}
        return WorkflowExecutionCount.from_json(await self._call("GET", "/workflows/count", params=params))

    # --- namespaces -----------------------------------------------------------------------------------

    async def create_namespace(self, name: str, description: str = "") -> dict[str, Any]:
        """Create a namespace; returns it as the server describes it."""
        result: dict[str, Any] = await self.transport.call(
            "POST", "/api/v1/namespaces", body={"name": name, "description": description}
        )
        return result

    async def list_namespaces(self) -> list[dict[str, Any]]:
        """Every namespace on the server."""
        data = await self.transport.call("GET", "/api/v1/namespaces")
        result: list[dict[str, Any]] = data["namespaces"]
        return result


def _search_attributes_body(options: Mapping[str, Any]) -> dict[str, Any]:
    """``search_attributes=`` as the start request's field (the server checks each against its registry)."""
    values = options.get("search_attributes")
    if values is None:
        return {}
    from ..common import _to_wire

    return {"search_attributes": _to_wire(values)}
