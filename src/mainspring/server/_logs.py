"""The server's logs: text for a terminal, or one JSON object per line (``--log-format json``) for a log
pipeline, with what a line is about as fields of its own.

A line logged while a transition of a run is under way carries the run's ``namespace``, ``workflow_id`` and
``run_id`` (the transition core sets ``RUN`` for its extent, and tasks it starts inherit it); one logged
while an HTTP request is served carries its ``request_id`` (the caller's ``X-Request-Id`` if it sent a sane
one, else one the server makes; the answer carries it back in the same header); one logged within a span of a
server that traces (``--otlp-endpoint``, ``_tracing``) carries its ``trace_id``. Fields a call passes with
``extra=`` (``task_queue``, ``session_id``, ``operation``, ...) are kept too.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from .._json import dumps_str
from .._time import rfc3339

if TYPE_CHECKING:
    from ..storage import ExecutionRecord

__all__ = ["REQUEST_ID", "RUN", "JsonFormatter", "about", "configure_logging", "request_id"]

#: The request being served (its id), and the run a transition is changing, in this task's context.
REQUEST_ID: ContextVar[str | None] = ContextVar("mainspring_request_id", default=None)
RUN: ContextVar[ExecutionRecord | None] = ContextVar("mainspring_run", default=None)
#: The current span's trace id, when the server traces (``_tracing`` sets it); None: it does not.
trace_id: Callable[[], str | None] | None = None

#: Extra fields kept from a record (``log.warning(..., extra={...})``), besides the context's.
_FIELDS = ("namespace", "workflow_id", "run_id", "task_queue", "session_id", "identity", "operation", "code")
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")
# Request ids the server makes: unique to this process and cheap (no randomness per request).
_PREFIX = f"{os.getpid():x}{os.urandom(3).hex()}"
_COUNTER = itertools.count(1)


def about(rec: ExecutionRecord) -> dict[str, Any]:
    """``extra=`` for a line about a run logged outside its transition: its ids as fields."""
    return {"namespace": rec.namespace, "workflow_id": rec.workflow_id, "run_id": rec.run_id}


def request_id(given: str | None) -> str:
    """The id of a request: the caller's, if it is a sane token, else a new one."""
    if given is not None and _SANE_ID.fullmatch(given):
        return given
    return f"{_PREFIX}-{next(_COUNTER)}"


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: ``time`` (RFC 3339, UTC), ``level``, ``logger``, ``message``, the
    context's fields, and ``error`` with the traceback of an exception logged with it."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": rfc3339(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = REQUEST_ID.get()
        if rid is not None:
            out["request_id"] = rid
        if trace_id is not None:
            tid = trace_id()
            if tid is not None:
                out["trace_id"] = tid
        run = RUN.get()
        if run is not None:
            out["namespace"], out["workflow_id"], out["run_id"] = run.namespace, run.workflow_id, run.run_id
        fields = record.__dict__
        for key in _FIELDS:
            value = fields.get(key)
            if value is not None:
                out[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return dumps_str(out)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Set up the process's logging for a server: ``text`` (time, level, logger, message) or ``json``."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level.upper())
