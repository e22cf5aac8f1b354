"""The field types every request model is built from: one definition of each limit.

Each type carries its bounds twice, from one place: pydantic enforces them on every request (HTTP and
channel alike), and the OpenAPI document publishes them (``minimum``/``maximum``, ``maxLength``,
``pattern``), so a request that fits the published schema is accepted and one that does not is refused
with a 400 naming the field. Durations and intervals are finite seconds within ``MAX_SECONDS``: an
unbounded one (``1e309`` parses as infinity) once reached the store as ``null`` and stopped the server
at every restart, and a far-future time cannot be written as RFC 3339.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from .names import (
    ID_PATTERN,
    MAX_ID_LENGTH,
    MAX_TEXT_LENGTH,
    NAMESPACE_PATTERN,
    check_id,
    check_namespace,
)

__all__ = [
    "MAX_EVENT_ID",
    "MAX_SECONDS",
    "MAX_TASK_TOKEN_LENGTH",
    "MAX_UNIX_TIME",
    "ActivityId",
    "ActivityType",
    "Attempts",
    "Coefficient",
    "EventId",
    "HandlerName",
    "Identity",
    "NamespaceName",
    "PositiveSeconds",
    "Seconds",
    "ShortText",
    "TaskQueue",
    "TaskToken",
    "Text",
    "TimerId",
    "Token",
    "WaitSeconds",
    "WorkflowId",
    "WorkflowType",
    "seconds_problem",
]

#: The longest duration, interval or timeout accepted: 100 years.
MAX_SECONDS = 100 * 366 * 24 * 3600.0
#: The latest Unix time accepted in a query (the end of year 9999, the last RFC 3339 can write).
MAX_UNIX_TIME = 253_402_300_799.0
#: Event ids (and other counters) stay within what every JSON reader holds exactly (2**53).
MAX_EVENT_ID = 2**53


def seconds_problem(what: str, seconds: float, *, positive: bool = False) -> str | None:
    """Why ``seconds`` is not a duration the server takes (for checks made before a request is sent,
    e.g. by the SDK as workflow code runs), or None."""
    low_ok = seconds > 0 if positive else seconds >= 0
    if low_ok and seconds <= MAX_SECONDS:  # also False for NaN
        return None
    wanted = "more than 0" if positive else "0 or more"
    return f"{what} must be {wanted} and at most 100 years ({MAX_SECONDS:g} s), got {seconds!r}"


Seconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False, description="Seconds (0 to 100 years).")]
PositiveSeconds = Annotated[
    float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False, description="Seconds, more than 0 (up to 100 years).")
]
#: A wait the server caps anyway (a poll, a result wait): any finite, non-negative number of seconds.
WaitSeconds = Annotated[float, Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)]
#: A retry policy's backoff coefficient: 1 (no growth) to 100.
Coefficient = Annotated[float, Field(ge=1, le=100, allow_inf_nan=False)]
Attempts = Annotated[int, Field(ge=0, le=2**31 - 1)]
EventId = Annotated[int, Field(ge=1, le=MAX_EVENT_ID)]

#: Who asks (a worker's or a caller's identity): copied into history, so bounded like an id.
Identity = Annotated[str, Field(max_length=MAX_ID_LENGTH)]
#: Free text recorded in history or the store (a reason, a description).
Text = Annotated[str, Field(max_length=MAX_TEXT_LENGTH)]
ShortText = Annotated[str, Field(max_length=MAX_ID_LENGTH)]
#: An opaque value the server handed out (a session id, a page token).
Token = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
#: The longest task token the server makes (see ``mainspring.server._tokens``).
MAX_TASK_TOKEN_LENGTH = 256
#: A task token: base64url, as the server made it (a worker echoes it).
#: The pattern is published, not enforced here: any other string is a token the server did not make,
#: refused as unknown (404) like a forged one.
TaskToken = Annotated[
    str,
    Field(min_length=1, max_length=MAX_TASK_TOKEN_LENGTH, json_schema_extra={"pattern": "^[A-Za-z0-9_-]+$"}),
]


def _checker(kind: str) -> AfterValidator:
    def check(value: str) -> str:
        problem = check_id(kind, value)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


def _namespace(value: str) -> str:
    problem = check_namespace(value)
    if problem:
        raise ValueError(problem)
    return value


NamespaceName = Annotated[
    str,
    AfterValidator(_namespace),
    Field(json_schema_extra={"minLength": 1, "maxLength": 255, "pattern": NAMESPACE_PATTERN}),
]


# A user-chosen id or name: 1 to 1000 characters, no control characters, no whitespace at either end.
# ``check_id`` enforces it (for its message); the schema publishes the same rule.
_ID_SCHEMA = Field(json_schema_extra={"minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": ID_PATTERN})
WorkflowId = Annotated[str, _checker("workflow id"), _ID_SCHEMA]
WorkflowType = Annotated[str, _checker("workflow type"), _ID_SCHEMA]
TaskQueue = Annotated[str, _checker("task queue"), _ID_SCHEMA]
ActivityId = Annotated[str, _checker("activity id"), _ID_SCHEMA]
ActivityType = Annotated[str, _checker("activity type"), _ID_SCHEMA]
TimerId = Annotated[str, _checker("timer id"), _ID_SCHEMA]
HandlerName = Annotated[str, _checker("handler name"), _ID_SCHEMA]
BuildId = Annotated[str, _checker("build id"), _ID_SCHEMA]


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):  # JSON true/false is not a number, though Python's bool is an int
        raise ValueError("a number of seconds since 1970 is expected, not true/false")
    return value


#: A Unix time in seconds (1970 to about 5138).
UnixTime = Annotated[float, BeforeValidator(_not_bool), Field(ge=0, le=1e11, allow_inf_nan=False)]
