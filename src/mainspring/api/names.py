"""Validation of user-chosen names (namespaces, workflow ids, task queues, types).

Bad names are refused at the edge with a message that says what a good one looks like.
"""

from __future__ import annotations

import re

__all__ = ["MAX_ID_LENGTH", "check_id", "check_namespace"]

MAX_ID_LENGTH = 1000
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_namespace(name: str) -> str | None:
    """Return an error message if ``name`` is not a valid namespace name, else None."""
    if not isinstance(name, str) or not _NAMESPACE.match(name):
        return (
            f"invalid namespace {name!r}: use 1 to 255 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return None


def check_id(kind: str, value: object) -> str | None:
    """Return an error message if ``value`` is not a valid id or name of the given kind, else None.

    ``kind`` is how the value is named in the message, e.g. "workflow id" or "task queue".
    """
    if not isinstance(value, str) or not value:
        return f"invalid {kind} {value!r}: it must be a non-empty string"
    if len(value) > MAX_ID_LENGTH:
        return f"invalid {kind}: it is {len(value)} characters long; the limit is {MAX_ID_LENGTH}"
    if value != value.strip():
        return f"invalid {kind} {value!r}: it must not start or end with whitespace"
    if _CONTROL.search(value):
        return f"invalid {kind} {value!r}: it must not contain control characters (newlines, tabs, ...)"
    return None
