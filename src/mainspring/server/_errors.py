"""How a domain error is answered at the server's edges (the HTTP API and the channels).

The engine raises what went wrong (``NotFoundError(..., code="task_not_found")``) and no status: which
HTTP status that is belongs here, in one table, and both edges use it. The channels answer with the same
status in their error messages, so the SDK raises the same exception whichever way it asked.

A ``code`` may have a status of its own (``_BY_CODE``), else its class decides (``_BY_CLASS``, the most
specific class first). A status the error carries is only used when neither knows it (an error a worker
sent back, say); an error nothing knows is the caller's fault, 400.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..errors import (
    AlreadyStartedError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ResourceExhaustedError,
    RPCError,
    ServerUnavailableError,
    UnauthenticatedError,
)
from ..storage import StorageError

__all__ = ["ErrorAnswer", "answer_for", "http_status"]

#: A code whose status is not its class's: a query no worker answered in time is a deadline exceeded (Temporal's
#: DEADLINE_EXCEEDED), answered 408, not a server fault (a 5xx, which clients and proxies retry); a worker's
#: answer that cannot be read is a bad gateway's.
_BY_CODE: dict[str, int] = {"no_worker": 408, "query_timeout": 408, "bad_worker_answer": 502}

#: Most specific first: ResourceExhaustedError is a ServerUnavailableError.
_BY_CLASS: tuple[tuple[type[RPCError], int], ...] = (
    (InvalidArgumentError, 400),
    (UnauthenticatedError, 401),
    (PermissionDeniedError, 403),
    (NotFoundError, 404),
    (AlreadyStartedError, 409),
    (PayloadTooLargeError, 413),
    (ResourceExhaustedError, 429),
    (ServerUnavailableError, 503),
)


def http_status(e: RPCError) -> int:
    """The HTTP status that answers ``e``."""
    status = _BY_CODE.get(e.code)
    if status is not None:
        return status
    for cls, status in _BY_CLASS:
        if isinstance(e, cls):
            return status
    return e.status if 400 <= e.status <= 599 else 400


class ErrorAnswer(NamedTuple):
    """An error as an edge answers it: the HTTP status, and the body's fields."""

    status: int
    code: str
    message: str
    details: Any = None

    def body(self) -> dict[str, Any]:
        """The JSON body of an HTTP error answer: ``{"code", "message"[, "details"]}``."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body

    def channel_error(self) -> dict[str, Any]:
        """The ``err`` of a channel's answer: the HTTP body plus its ``status``."""
        return {"status": self.status, **self.body()}


def _create_namespace(e: RPCError) -> str | None:
    name = e.details.get("namespace") if isinstance(e.details, dict) else None
    return None if name is None else f"create it with `mainspring namespace create {name}`"


#: What an edge adds to an error's message, by its code: the way out that the engine does not word (it
#: knows no command line). The CLI adds its own (``mainspring.cli._common``); it repeats none of these.
_HINTS = {"namespace_not_found": _create_namespace}


def answer_for(e: RPCError | StorageError) -> ErrorAnswer:
    """How to answer a domain error (a StorageError: the store cannot write now, come back later)."""
    if isinstance(e, StorageError):
        return ErrorAnswer(503, "storage_unavailable", str(e))
    message = e.message
    hint = _HINTS.get(e.code)
    text = hint(e) if hint is not None else None
    if text is not None and text not in message:
        message = f"{message} ({text})"
    return ErrorAnswer(http_status(e), e.code, message, e.details)
