"""Validation of user-chosen names (namespaces, workflow ids, task queues, types).

Bad names are refused at the edge with a message that says what a good one looks like. Each rule is
also written as a regular expression (``ID_PATTERN``, ``NAMESPACE_PATTERN``) for the OpenAPI document;
``tests/test_names.py`` checks that the function and the pattern agree.
"""

from __future__ import annotations

import re

__all__ = [
    "ID_PATTERN",
    "MAX_ID_LENGTH",
    "MAX_MEMO_KEYS",
    "MAX_TASK_TIMEOUT",
    "MAX_TEXT_LENGTH",
    "MIN_TASK_TIMEOUT",
    "NAMESPACE_PATTERN",
    "check_id",
    "check_namespace",
]

MAX_ID_LENGTH = 1000
#: Free text kept in history or the store (a reason, a description).
MAX_TEXT_LENGTH = 10_000
#: The shortest and longest workflow task timeout a run may have, in seconds (Temporal caps it at 120 s too:
#: a longer one only delays noticing a worker that died holding a task); see ``api.start_options``.
MIN_TASK_TIMEOUT = 1.0
MAX_TASK_TIMEOUT = 120.0
#: The most keys a start's memo may have (its size is bounded by the payload limit, as the input's).
MAX_MEMO_KEYS = 1000
NAMESPACE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$"
_NAMESPACE = re.compile(NAMESPACE_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# What str.strip() removes, besides control characters (written out: "\s" differs between the regex
# dialects that read the published pattern).
_SPACE = r" \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_CONTROL_CLASS = r"\u0000-\u001f\u007f"
#: An id: no control characters, and no whitespace at either end (lengths are published apart).
ID_PATTERN = rf"^[^{_CONTROL_CLASS}{_SPACE}]([^{_CONTROL_CLASS}]*[^{_CONTROL_CLASS}{_SPACE}])?$"


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
    if _CONTROL.search(value):
        return f"invalid {kind} {value!r}: it must not contain control characters (newlines, tabs, ...)"
    if value != value.strip():
        return f"invalid {kind} {value!r}: it must not start or end with whitespace"
    return None
