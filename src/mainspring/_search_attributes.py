"""Search attributes, the part the server, the client and workflow code share: the types, the names, how a value
is checked against its registered type, and the stored form (``{"Name": ["Type", value]}``: a Datetime as Unix
seconds, the rest as JSON gives them).

A value on the wire is plain JSON (a Datetime an RFC 3339 string); the server knows each name's type from its
registry (``server.features.search_attributes``) and refuses a value of another type, naming the attribute and
the type it takes. ``None`` unsets an attribute (an upsert's).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "BUILD_IDS",
    "BUILTIN_TYPES",
    "DEV_SERVER_ATTRIBUTES",
    "MAX_CUSTOM_PER_NAMESPACE",
    "MAX_KEYWORD_LENGTH",
    "MAX_NAME_LENGTH",
    "SCHEDULED_BY_ID",
    "SCHEDULED_START_TIME",
    "SYSTEM_VALUES",
    "TYPES",
    "check_name",
    "check_values",
    "shown",
    "stored_value",
]

#: The types, as Temporal names them.
TYPES = ("Keyword", "Text", "Int", "Double", "Bool", "Datetime", "KeywordList")

#: The built-in attributes (read-only: every run has them; Temporal's names and types).
BUILTIN_TYPES: Mapping[str, str] = {
    "WorkflowType": "Keyword",
    "WorkflowId": "Keyword",
    "RunId": "Keyword",
    "ExecutionStatus": "Keyword",
    "StartTime": "Datetime",
    "CloseTime": "Datetime",
    "ExecutionDuration": "Int",
    "TaskQueue": "Keyword",
    "BuildId": "KeywordList",
    "BuildIds": "KeywordList",
    "TemporalScheduledById": "Keyword",
    "TemporalScheduledStartTime": "Datetime",
}

#: The built-ins the server keeps among a run's own values (its item of kind "sa", so list filters read them
#: as they read custom ones): the builds that ran its workflow tasks, and the schedule that started it and the
#: time its action was due (Temporal's names). ``BuildId`` filters on ``BuildIds``.
BUILD_IDS = "BuildIds"
SCHEDULED_BY_ID = "TemporalScheduledById"
SCHEDULED_START_TIME = "TemporalScheduledStartTime"
SYSTEM_VALUES: Mapping[str, str] = {
    BUILD_IDS: "KeywordList",
    SCHEDULED_BY_ID: "Keyword",
    SCHEDULED_START_TIME: "Datetime",
}

#: What ``server start-dev`` registers in each namespace, as Temporal's dev server does.
DEV_SERVER_ATTRIBUTES: Mapping[str, str] = {
    "CustomKeywordField": "Keyword",
    "CustomTextField": "Text",
    "CustomIntField": "Int",
    "CustomDoubleField": "Double",
    "CustomBoolField": "Bool",
    "CustomDatetimeField": "Datetime",
}

MAX_NAME_LENGTH = 64
MAX_KEYWORD_LENGTH = 2048
MAX_TEXT_LENGTH = 32768
MAX_LIST_LENGTH = 100
MAX_CUSTOM_PER_NAMESPACE = 100
_INT64 = 2**63

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_name(name: Any) -> str | None:
    """Why ``name`` cannot name a custom search attribute, or None."""
    if not isinstance(name, str) or not name:
        return "a search attribute name must be a non-empty string"
    if len(name) > MAX_NAME_LENGTH:
        return f"search attribute name {name[:80]!r} is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}"
    if _NAME.fullmatch(name) is None:
        return f"search attribute name {name!r} is not an identifier: letters, digits and _, not starting with a digit"
    return None


def _datetime(text: Any) -> float | None:
    if isinstance(text, datetime):
        return text.timestamp() if text.tzinfo is not None else None
    if not isinstance(text, str):
        return None
    from ._visibility._parser import _rfc3339

    when = _rfc3339(text)
    return None if when is None else when.timestamp()


def stored_value(name: str, type_name: str, value: Any) -> Any:
    """``value`` (plain JSON) as stored for an attribute of ``type_name``; ``ValueError`` naming the attribute
    and its type if it is not one."""

    def wrong(what: str = "") -> ValueError:
        got = type(value).__name__ if value is not None else "null"
        return ValueError(
            f"search attribute {name!r} is of type {type_name}: {what or f'it takes {_takes(type_name)}, not {got}'}"
        )

    if type_name in ("Keyword", "Text"):
        if not isinstance(value, str):
            raise wrong()
        limit = MAX_KEYWORD_LENGTH if type_name == "Keyword" else MAX_TEXT_LENGTH
        if len(value) > limit:
            raise wrong(f"its value is {len(value):,} characters long; the limit is {limit:,}")
        return value
    if type_name == "Int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
        if not -_INT64 <= value < _INT64:
            raise wrong("its value is out of the 64-bit integer range")
        return value
    if type_name == "Double":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong()
        if not math.isfinite(value):
            raise wrong(f"it takes a finite number, not {value!r}")
        return float(value)
    if type_name == "Bool":
        if not isinstance(value, bool):
            raise wrong()
        return value
    if type_name == "Datetime":
        seconds = _datetime(value)
        if seconds is None:
            raise wrong(f"it takes an RFC 3339 time such as '2026-11-01T00:00:00Z', not {value!r}")
        return seconds
    if type_name == "KeywordList":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise wrong()
        if len(value) > MAX_LIST_LENGTH:
            raise wrong(f"it holds {len(value)} keywords; the limit is {MAX_LIST_LENGTH}")
        if any(len(v) > MAX_KEYWORD_LENGTH for v in value):
            raise wrong(f"a keyword is longer than {MAX_KEYWORD_LENGTH:,} characters")
        return list(value)
    raise wrong(f"unknown type {type_name!r}")


def _takes(type_name: str) -> str:
    return {
        "Keyword": "a string",
        "Text": "a string",
        "Int": "an integer",
        "Double": "a number",
        "Bool": "true or false",
        "Datetime": "an RFC 3339 time",
        "KeywordList": "a list of strings",
    }.get(type_name, type_name)


def check_values(
    registered: Mapping[str, str], values: Mapping[str, Any], *, unset: bool = False
) -> dict[str, list[Any] | None]:
    """``values`` (name -> plain JSON) in stored form (name -> [type, value]; None for an unset when ``unset``
    allows it); ``ValueError`` naming the first attribute that is unknown or of the wrong type."""
    out: dict[str, list[Any] | None] = {}
    for name, value in values.items():
        if name in BUILTIN_TYPES:
            raise ValueError(f"search attribute {name!r} is built in: it is set by the server, not by a workflow")
        type_name = registered.get(name)
        if type_name is None:
            problem = check_name(name)
            if problem:
                raise ValueError(problem)
            known = ", ".join(sorted(registered)) or "none"
            raise ValueError(
                f"unknown search attribute {name!r}: register it first (mainspring operator search-attribute create "
                f"--name {name} --type Keyword); this namespace has {known}"
            )
        if value is None and unset:
            out[name] = None
            continue
        out[name] = [type_name, stored_value(name, type_name, value)]
    return out


def shown(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The stored form as plain JSON values (a Datetime as RFC 3339 text), by name."""
    out: dict[str, Any] = {}
    for name, pair in (stored or {}).items():
        type_name, value = pair
        if type_name == "Datetime":
            value = datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")
        out[name] = value
    return out


def typed(stored: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The stored form as ``{name: {"type": T, "value": plain JSON}}`` (what describe answers)."""
    plain = shown(stored)
    return {name: {"type": pair[0], "value": plain[name]} for name, pair in (stored or {}).items()}
