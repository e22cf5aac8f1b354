"""Every exception Mainspring raises, under one root.

::

    MainspringError
    ├── FailureError                  a failure that travels through history (workflow-visible)
    │   ├── ApplicationError          raised by user code; may be marked non-retryable
    │   ├── ActivityError             an activity failed for good; ``.cause`` says why
    │   ├── ChildWorkflowError        a child workflow did not complete (or could not start); ``.cause``
    │   ├── TimeoutError              a timeout fired (``.timeout_type``)
    │   ├── CancelledError            the work was cancelled
    │   ├── TerminatedError           the workflow was terminated
    │   └── ServerError               the engine failed the work (e.g. a worker was lost)
    ├── WorkflowFailureError          client side: the workflow ended without a result; ``.cause``
    ├── WorkflowQueryFailedError      client side: a query was refused or its handler raised
    ├── WorkflowUpdateFailedError     client side: an update was rejected or its handler failed; ``.cause``
    ├── WorkflowCodeError             a bug in workflow code that fails the task, not the workflow
    │   ├── NondeterminismError       the code diverged from its recorded history
    │   ├── NondeterministicCallError the code called the wall clock, real sleep or real randomness
    │   └── DeadlockError             the code did not yield within the worker's deadlock_detection_timeout
    └── RPCError                      the engine or its transport failed (``.status``, ``.code``)
        ├── ServerUnavailableError    the server could not be reached, or cannot take the call now (503)
        │   ├── ResourceExhaustedError  429: the server is overloaded; retry after ``.retry_after``
        │   └── TLSError              no secure connection: a certificate is not trusted or missing (``.code``)
        ├── InvalidArgumentError      400: the request is wrong; the message says how
        │   ├── InvalidAddressError   a server address (list) is malformed; also a ``ValueError``
        │   └── InvalidQueryError     a list filter does not parse or names what is not there; ``.position``
        ├── PermissionDeniedError     403: the request is not allowed (origin, host, task token)
        ├── NotFoundError             404
        ├── AlreadyStartedError       409: a workflow with that id is already running
        └── PayloadTooLargeError      413

"Your workflow failed" (``FailureError``, ``WorkflowFailureError``) is a different family from
"the engine or its storage failed" (``RPCError``), so callers can tell them apart.
"""

from __future__ import annotations

import builtins
import traceback
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ._typed_failures import exception_info as _exception_info
from ._typed_failures import rebuild_exception as _rebuild_exception
from .api.enums import ApplicationErrorCategory

__all__ = [
    "ActivityError",
    "AlreadyStartedError",
    "ApplicationError",
    "ApplicationErrorCategory",
    "CancelledError",
    "ChildWorkflowError",
    "DeadlockError",
    "FailureError",
    "InvalidAddressError",
    "InvalidArgumentError",
    "InvalidQueryError",
    "MainspringError",
    "NondeterminismError",
    "NondeterministicCallError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RPCError",
    "ResourceExhaustedError",
    "ServerError",
    "ServerUnavailableError",
    "TLSError",
    "TerminatedError",
    "TimeoutError",
    "UnauthenticatedError",
    "WorkflowCodeError",
    "WorkflowFailureError",
    "WorkflowQueryFailedError",
    "WorkflowUpdateFailedError",
    "exception_from_failure",
    "failure_from_dict",
    "failure_to_dict",
]


class MainspringError(Exception):
    """Root of every exception raised by Mainspring."""


# --- Failures that travel through history ---------------------------------------------------------


class FailureError(MainspringError):
    """A failure that is recorded in history and can be seen by workflow code.

    Raising one of these from workflow code fails the workflow; any other exception fails only the
    workflow task (the task is retried, on the assumption that the code has a bug that a deploy fixes).
    """

    def __init__(self, message: str, *, cause: BaseException | None = None, stack: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause
        self.__cause__ = cause
        #: The stack trace recorded where the failure happened (possibly in another process).
        self.stack = stack

    @property
    def failure_type(self) -> str:
        """A short name for the kind of failure, as shown in history."""
        return type(self).__name__

    def __str__(self) -> str:
        return self.message


class ApplicationError(FailureError):
    """An error raised by user code (an activity or a workflow).

    ``type`` names the error for retry policies (``non_retryable_error_types``); it defaults to the
    Python class name of the original exception. ``non_retryable=True`` stops activity retries at once.
    ``next_retry_delay`` (raised by an activity) is how long the server waits before the next attempt,
    instead of the retry policy's backoff (the policy's attempts and timeouts still apply).
    ``category=ApplicationErrorCategory.BENIGN`` marks an expected failure: the worker logs it at debug.
    """

    def __init__(
        self,
        message: str,
        *details: Any,
        type: str | None = None,
        non_retryable: bool = False,
        cause: BaseException | None = None,
        stack: str | None = None,
        next_retry_delay: timedelta | None = None,
        category: ApplicationErrorCategory = ApplicationErrorCategory.UNSPECIFIED,
    ) -> None:
        super().__init__(message, cause=cause, stack=stack)
        # A subclass (``class InsufficientFunds(ApplicationError)``) is named by its class, as a plain exception is.
        self.type = type or ("ApplicationError" if self.__class__ is ApplicationError else self.__class__.__name__)
        self.details: tuple[Any, ...] = details
        self.non_retryable = non_retryable
        if next_retry_delay is not None and next_retry_delay < timedelta(0):
            raise ValueError(f"next_retry_delay must not be negative, got {next_retry_delay}")
        self.next_retry_delay = next_retry_delay
        self.category = ApplicationErrorCategory(category)

    @property
    def failure_type(self) -> str:
        return self.type


class ActivityError(FailureError):
    """An activity failed for good (its last attempt failed, or it timed out).

    ``cause`` holds what the last attempt raised: an ``ApplicationError`` (with the original type,
    message and details) or a ``TimeoutError``.
    """

    def __init__(
        self,
        message: str,
        *,
        activity_type: str,
        activity_id: str,
        attempt: int,
        retry_state: str | None = None,
        cause: BaseException | None = None,
        stack: str | None = None,
    ) -> None:
        super().__init__(message, cause=cause, stack=stack)
        self.activity_type = activity_type
        self.activity_id = activity_id
        self.attempt = attempt
        self.retry_state = retry_state


class ChildWorkflowError(FailureError):
    """A child workflow did not complete: it failed, was cancelled or terminated, timed out, or could not
    be started (its id is taken by a running workflow: ``cause`` is an ``ApplicationError`` of type
    ``WorkflowExecutionAlreadyStarted``).

    ``cause`` is why: the child's own failure (an ``ApplicationError`` with the type, message and details
    it raised, an ``ActivityError``...), a ``CancelledError``, a ``TerminatedError`` or a ``TimeoutError``.
    """

    def __init__(
        self,
        message: str,
        *,
        workflow_id: str,
        run_id: str | None,
        workflow_type: str,
        cause: BaseException | None = None,
        stack: str | None = None,
    ) -> None:
        super().__init__(message, cause=cause, stack=stack)
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.workflow_type = workflow_type


class TimeoutError(FailureError, builtins.TimeoutError):
    """A timeout fired. ``timeout_type`` is one of ``SCHEDULE_TO_CLOSE``, ``START_TO_CLOSE``,
    ``SCHEDULE_TO_START``, ``HEARTBEAT`` (activities), ``WAIT_CONDITION`` (``ctx.wait_condition``), or
    ``RESULT`` (client side: ``handle.result(timeout=...)`` gave up waiting; the workflow runs on).

    Also a subclass of Python's ``TimeoutError``, so ``except TimeoutError`` written for asyncio's catches it."""

    def __init__(
        self,
        message: str,
        *,
        timeout_type: str,
        last_heartbeat_details: Any = None,
        cause: BaseException | None = None,
        stack: str | None = None,
    ) -> None:
        super().__init__(message, cause=cause, stack=stack)
        self.timeout_type = timeout_type
        self.last_heartbeat_details = last_heartbeat_details


class CancelledError(FailureError):
    """The work was cancelled."""

    def __init__(self, message: str = "cancelled", *details: Any, stack: str | None = None) -> None:
        super().__init__(message, stack=stack)
        self.details = details


class TerminatedError(FailureError):
    """The workflow was terminated."""


class ServerError(FailureError):
    """The engine failed the work (for example, the worker running an activity was lost)."""

    def __init__(self, message: str, *, non_retryable: bool = False, cause: BaseException | None = None) -> None:
        super().__init__(message, cause=cause)
        self.non_retryable = non_retryable


# --- Client-side view of a finished workflow -----------------------------------------------------


class WorkflowFailureError(MainspringError):
    """The workflow ended without a result (failed, timed out, cancelled or terminated).

    ``cause`` is the ``FailureError`` recorded in history; ``status`` the final status.
    """

    def __init__(self, message: str, *, status: str, cause: FailureError | None) -> None:
        super().__init__(message)
        self.status = status
        self.cause = cause
        self.__cause__ = cause


class WorkflowQueryFailedError(MainspringError):
    """A query got no answer from the workflow: no handler of that name (``known`` lists the names it
    has), a payload that does not fit the handler, or the handler raised or tried to issue a command."""

    def __init__(self, message: str, *, known: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.known = known or []


class WorkflowUpdateFailedError(MainspringError):
    """An update did not produce a result: its validator rejected it (``rejected``; nothing was recorded), its
    handler raised a ``FailureError``, or the workflow closed first. ``cause`` is that failure."""

    def __init__(self, message: str, *, cause: FailureError | None, rejected: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause
        self.rejected = rejected
        self.__cause__ = cause


# --- Bugs in workflow code -------------------------------------------------------------------------


class WorkflowCodeError(MainspringError):
    """Workflow code did something the engine cannot accept; the workflow task fails and is retried."""


class NondeterminismError(WorkflowCodeError):
    """The workflow code, replayed, did not do what its history records."""


class NondeterministicCallError(WorkflowCodeError):
    """Workflow code called something non-deterministic (wall clock, real sleep, real randomness)."""


class DeadlockError(WorkflowCodeError):
    """Workflow code ran longer than the worker's ``deadlock_detection_timeout`` without yielding (a busy
    loop): it was interrupted, and the message says where it was (see ``workflow._deadlock``)."""


# --- The engine and its transport ------------------------------------------------------------------


class RPCError(MainspringError):
    """A call to the server failed. ``code`` is a stable name for what went wrong, ``status`` the HTTP
    status the server answered with (0 if none).

    Inside the server these are domain errors: the engine raises the class and ``code`` and no status,
    and the edge that answers picks the status from the class and code (``mainspring.server._errors``),
    as the class list above shows. The SDK raises the class that matches the status it was answered.
    """

    def __init__(self, message: str, *, status: int = 0, code: str = "error", details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details


class ServerUnavailableError(RPCError):
    """The server could not be reached (not running, wrong address, or restarting), or cannot take the
    call right now (503: its storage failed). Safe to retry after a pause."""


class ResourceExhaustedError(ServerUnavailableError):
    """The server is overloaded and shed the call (HTTP 429). Retry after ``retry_after`` seconds; a
    start retried with the same request id is deduplicated."""

    @property
    def retry_after(self) -> float:
        """Seconds the server asked the caller to wait before retrying."""
        details = self.details if isinstance(self.details, dict) else {}
        try:
            return max(0.0, float(details.get("retry_after", 1.0)))
        except (TypeError, ValueError):
            return 1.0


class TLSError(ServerUnavailableError):
    """No secure connection could be made to the server; the message says what is wrong and how to fix it.

    ``code`` says which: ``tls_untrusted`` (the server's certificate is not signed by a CA the client
    trusts), ``tls_hostname`` (it is not for the name connected to), ``tls_required`` (a plain client
    to a server that speaks only TLS), ``tls_not_offered`` (a TLS client to a plain server),
    ``tls_client_cert_required`` (the server wants a client certificate), ``tls_client_cert_refused``
    (it does not trust the one given), ``tls_config`` (the client's own certificates cannot be loaded),
    ``tls_error`` (anything else). Retrying the same call does not help until a certificate changes."""


class InvalidArgumentError(RPCError):
    """The request was refused as invalid (HTTP 400); the message says what is wrong."""


class InvalidAddressError(InvalidArgumentError, builtins.ValueError):
    """A server address, or an item of a list of them, is not HOST:PORT or an http(s) URL (raised before
    any request is made)."""


class InvalidQueryError(InvalidArgumentError):
    """A list filter (the ``query`` of ``list_workflows``, ``count_workflows``) was refused: it does not parse,
    names an attribute that does not exist, or gives a value of the wrong type. ``code`` is "invalid_query";
    ``details`` holds the query and where the offending token is (``position``, ``line``, ``column``)."""

    @property
    def position(self) -> int:
        """Where the offending token starts, as an offset into the query (0 for its first character)."""
        return int(self._where("position", 0))

    @property
    def line(self) -> int:
        """The offending token's line, from 1."""
        return int(self._where("line", 1))

    @property
    def column(self) -> int:
        """The offending token's column, from 1."""
        return int(self._where("column", 1))

    def _where(self, key: str, default: int) -> int:
        details = self.details if isinstance(self.details, dict) else {}
        value = details.get(key, default)
        return value if isinstance(value, int) else default


class UnauthenticatedError(RPCError):
    """The server wants to know who calls (HTTP 401): no API key was given, or the one given is not valid
    (unknown, revoked, mistyped). ``code`` is "unauthenticated", "invalid_credentials", or "token_expired"
    (an OIDC token's ``exp`` passed: set ``client.api_key`` to a fresh one; a channel it opened is closed
    with 1008 then, and a worker connects again with the client's current key)."""


class PermissionDeniedError(RPCError):
    """The server refused the request as not allowed (HTTP 403): a foreign origin or host, or a task
    token that belongs to another worker."""


class NotFoundError(RPCError):
    """What the request names does not exist (HTTP 404)."""


class AlreadyStartedError(RPCError):
    """A workflow with this id is already running (HTTP 409)."""


class PayloadTooLargeError(RPCError):
    """A payload is over the server's size limit (HTTP 413)."""


# --- Failure <-> JSON --------------------------------------------------------------------------------
# The JSON form is what history stores and what crosses the wire:
#   {"message", "type", "kind", "stack", "non_retryable", "details", "cause", ...kind-specific fields}


#: At most this many causes are recorded below a failure: the server refuses payloads nested over 200
#: levels, and an exception chained a few hundred deep could not even be encoded (its attempt then waited
#: out its timeout). Deeper causes are summed up in one last cause.
_MAX_CAUSES = 32


def failure_to_dict(err: BaseException, *, with_stack: bool = True) -> dict[str, Any]:
    """Convert an exception into the failure JSON recorded in history (with at most _MAX_CAUSES causes)."""
    return _failure_to_dict(err, with_stack, 0)


def _failure_to_dict(err: BaseException, with_stack: bool, depth: int) -> dict[str, Any]:
    stack = None
    if with_stack:
        # The first stack shows the whole chain, as Python prints it; a cause's shows its own frames (with
        # the chain at every level, a failure 1,000 causes deep was over 3 MB).
        stack = getattr(err, "stack", None) or "".join(
            traceback.format_exception(type(err), err, err.__traceback__, chain=depth == 0)
        )
    out: dict[str, Any] = {"message": str(err), "stack": stack}
    # ``raise ApplicationError("main") from ApplicationError("why")`` sets only ``__cause__``; a
    # ``cause=`` argument sets both (FailureError.__init__), so ``__cause__`` is the one to follow.
    cause_err: BaseException | None = err.__cause__
    if cause_err is None:
        cause_err = getattr(err, "cause", None)
    if isinstance(err, ApplicationError):
        out.update(kind="application", type=err.type, non_retryable=err.non_retryable)
        if err.details:
            out["details"] = list(err.details)
        # Only when set, so failures without them stay as they were.
        if err.next_retry_delay is not None:
            out["next_retry_delay"] = err.next_retry_delay.total_seconds()
        if err.category is not ApplicationErrorCategory.UNSPECIFIED:
            out["category"] = err.category.value
    elif isinstance(err, ActivityError):
        out.update(
            kind="activity",
            type="ActivityError",
            activity_type=err.activity_type,
            activity_id=err.activity_id,
            attempt=err.attempt,
            retry_state=err.retry_state,
        )
    elif isinstance(err, ChildWorkflowError):
        out.update(
            kind="child_workflow",
            type="ChildWorkflowError",
            workflow_id=err.workflow_id,
            run_id=err.run_id,
            workflow_type=err.workflow_type,
        )
    elif isinstance(err, TimeoutError):
        out.update(kind="timeout", type="TimeoutError", timeout_type=err.timeout_type)
        if err.last_heartbeat_details is not None:
            out["last_heartbeat_details"] = err.last_heartbeat_details
    elif isinstance(err, CancelledError):
        out.update(kind="cancelled", type="CancelledError")
        if err.details:
            out["details"] = list(err.details)
    elif isinstance(err, TerminatedError):
        out.update(kind="terminated", type="TerminatedError")
    elif isinstance(err, ServerError):
        out.update(kind="server", type="ServerError", non_retryable=err.non_retryable)
    else:
        # A plain Python exception from user code: keep its class name as the error type.
        out.update(kind="application", type=type(err).__name__, non_retryable=False)
    if isinstance(err, ApplicationError) or not isinstance(err, FailureError):
        # Its class and public state, so that a reader that has the class rebuilds it (``_typed_failures``).
        info = _exception_info(err)
        if info is not None:
            out["exception"] = info
    if cause_err is not None:
        if depth < _MAX_CAUSES:
            out["cause"] = _failure_to_dict(cause_err, with_stack, depth + 1)
        else:
            out["cause"] = {
                "message": f"(further causes, from {type(cause_err).__name__}: {cause_err}, not recorded)"[:1000],
                "type": "TruncatedCauses",
                "kind": "application",
                "stack": None,
                "non_retryable": False,
            }
    return out


def failure_from_dict(data: Mapping[str, Any]) -> FailureError:
    """Rebuild the exception from failure JSON (the inverse of ``failure_to_dict``)."""
    cause = failure_from_dict(data["cause"]) if data.get("cause") else None
    kind = data.get("kind", "application")
    message = str(data.get("message", ""))
    stack = data.get("stack")
    err: FailureError
    if kind == "activity":
        err = ActivityError(
            message,
            activity_type=str(data.get("activity_type", "")),
            activity_id=str(data.get("activity_id", "")),
            attempt=int(data.get("attempt", 0)),
            retry_state=data.get("retry_state"),
            cause=cause,
            stack=stack,
        )
    elif kind == "child_workflow":
        run_id = data.get("run_id")
        err = ChildWorkflowError(
            message,
            workflow_id=str(data.get("workflow_id", "")),
            run_id=None if run_id is None else str(run_id),
            workflow_type=str(data.get("workflow_type", "")),
            cause=cause,
            stack=stack,
        )
    elif kind == "timeout":
        err = TimeoutError(
            message,
            timeout_type=str(data.get("timeout_type", "")),
            last_heartbeat_details=data.get("last_heartbeat_details"),
            cause=cause,
            stack=stack,
        )
    elif kind == "cancelled":
        err = CancelledError(message, *data.get("details", []), stack=stack)
    elif kind == "terminated":
        err = TerminatedError(message, cause=cause, stack=stack)
    elif kind == "server":
        err = ServerError(message, non_retryable=bool(data.get("non_retryable")), cause=cause)
        err.stack = stack
    else:
        err = ApplicationError(
            message,
            *data.get("details", []),
            type=data.get("type"),
            non_retryable=bool(data.get("non_retryable")),
            cause=cause,
            stack=stack,
            **_application_extras(data),
        )
    return err


def _application_extras(data: Mapping[str, Any]) -> dict[str, Any]:
    """An application failure's ``next_retry_delay`` and ``category``, when the JSON carries usable ones."""
    extras: dict[str, Any] = {}
    delay = data.get("next_retry_delay")
    if isinstance(delay, (int, float)) and not isinstance(delay, bool) and 0 <= delay < 1e12:
        extras["next_retry_delay"] = timedelta(seconds=delay)
    category = data.get("category")
    if isinstance(category, str) and category in ApplicationErrorCategory.__members__:
        extras["category"] = ApplicationErrorCategory(category)
    return extras


def exception_from_failure(data: Mapping[str, Any]) -> BaseException:
    """Rebuild the exception a failure JSON records, keeping its class where possible.

    The failure of an exception of the user's own class (``InsufficientFunds``, raised in an activity)
    carries its class and public attributes (``failure_to_dict``); if that class is loaded in this
    process (the worker imported the module that defines it), the result is an instance of it, with
    ``args`` and those attributes (as JSON: a dataclass attribute comes back as a dict). Otherwise, and
    for Python's builtin exceptions, it is what ``failure_from_dict`` makes: an ``ApplicationError``
    whose ``type`` is the class name. Causes are rebuilt the same way (``__cause__``, and ``.cause`` for
    a ``FailureError``). Nothing is imported and no constructor runs (see ``mainspring._typed_failures``).
    """
    cause = exception_from_failure(data["cause"]) if isinstance(data.get("cause"), Mapping) else None
    base = failure_from_dict({**data, "cause": None})
    if cause is not None:
        base.cause = cause
        base.__cause__ = cause
    info = data.get("exception")
    typed = _rebuild_exception(info, base) if info is not None else None
    if typed is None:
        return base
    typed.__cause__ = cause
    return typed
