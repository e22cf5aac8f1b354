"""The start options of ``workflow start`` and ``workflow execute``, as flags spelled like Temporal's CLI:
``--id-reuse-policy``, ``--id-conflict-policy``, ``--start-delay``, ``--memo KEY=JSON`` (repeatable) or
``--memo-file``, ``--task-timeout``. Durations are Go-style (``90s``, ``1m30s``, ``2h``, ``500ms``) or plain
seconds; policies take Temporal's CLI names (``RejectDuplicate``) or the API's (``REJECT_DUPLICATE``), in any case.
A value that does not fit is a usage error (exit 2) naming the flag and what it takes."""

from __future__ import annotations

import json
import math
import re
from datetime import timedelta
from enum import StrEnum
from typing import Any, TypeVar

import click

from ..api.enums import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from ..api.names import MAX_TASK_TIMEOUT, MIN_TASK_TIMEOUT
from ._common import EXIT_INVALID, fail

__all__ = ["parse_duration", "start_flag_options", "start_flags", "start_flags_body"]

E = TypeVar("E", bound=StrEnum)

#: ``api.fields.MAX_SECONDS`` (100 years), not imported from there: that module loads pydantic, which the CLI's
#: plain-request commands do without (tests/test_cli_startup.py; a test checks the two agree).
MAX_SECONDS = 100 * 366 * 24 * 3600.0

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)")


def parse_duration(flag: str, text: str) -> float:
    """Seconds in ``text`` (Go-style ``1h30m``, ``250ms``, or a plain number of seconds); a usage error if not."""
    value = text.strip()
    seconds: float | None = None
    try:
        seconds = float(value)
    except ValueError:
        pos, total = 0, 0.0
        for match in _PART.finditer(value):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNITS[match.group(2)]
            pos = match.end()
        else:
            if value and pos == len(value):
                seconds = total
    if seconds is None or not math.isfinite(seconds):
        fail(f"{flag} takes a duration such as 30s, 1m30s, 2h or 500ms (or seconds), got {text!r}", EXIT_INVALID)
    if not 0 <= seconds <= MAX_SECONDS:
        fail(f"{flag} must be 0 or more and at most 100 years, got {text!r}", EXIT_INVALID)
    return seconds


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _policy(flag: str, text: str | None, enum: type[E]) -> E | None:
    if text is None:
        return None
    wanted = text.replace("-", "_").replace(" ", "").lower()
    for member in enum:
        if wanted in (member.value.lower(), _camel(member.value).lower()):
            return member
    choices = ", ".join(_camel(m.value) for m in enum)
    fail(f"{flag} takes one of {choices}, got {text!r}", EXIT_INVALID)


def _memo(entries: tuple[str, ...], path: str | None) -> dict[str, Any] | None:
    memo: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                loaded = json.load(f)
        except OSError as e:
            fail(f"cannot read --memo-file {path!r}: {e.strerror}", EXIT_INVALID)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            fail(f"--memo-file {path!r} is not a JSON object in UTF-8 text ({e})", EXIT_INVALID)
        if not isinstance(loaded, dict):
            fail(
                f"--memo-file {path!r} must hold a JSON object (its keys are the memo's), not {type(loaded).__name__}",
                EXIT_INVALID,
            )
        memo.update(loaded)
    for entry in entries:
        key, sep, text = entry.partition("=")
        if not sep or not key:
            fail(f"--memo takes KEY=JSON (e.g. --memo 'owner=\"ann\"'), got {entry!r}", EXIT_INVALID)
        try:
            memo[key] = json.loads(text)
        except json.JSONDecodeError as e:
            fail(
                f"--memo {key}: its value is not valid JSON ({e.msg}); quote a string for the shell and for JSON, "
                f"e.g. --memo '{key}=\"text\"'",
                EXIT_INVALID,
            )
    return memo if entries or path is not None else None


def start_flag_options(fn: Any) -> Any:
    """Add the start option flags to a click command (their values reach it as keyword arguments)."""
    fn = click.option(
        "--task-timeout",
        default=None,
        metavar="DURATION",
        help=f"Time a worker has for each workflow task ({MIN_TASK_TIMEOUT:g}s to {MAX_TASK_TIMEOUT:g}s; "
        "default the server's, 10s).",
    )(fn)
    fn = click.option(
        "--memo-file",
        default=None,
        type=click.Path(dir_okay=False),
        help="Read the memo from this file (a JSON object); --memo entries are added to it.",
    )(fn)
    fn = click.option(
        "--memo",
        multiple=True,
        metavar="KEY=JSON",
        help="Information kept with the run, shown by describe (repeatable), e.g. --memo 'owner=\"ann\"'.",
    )(fn)
    fn = click.option(
        "--start-delay",
        default=None,
        metavar="DURATION",
        help="Create the run now but start its first workflow task after this long (e.g. 30s, 1h).",
    )(fn)
    fn = click.option(
        "--id-conflict-policy",
        default=None,
        metavar="POLICY",
        help="When a run of the id is running: Fail (default), UseExisting, TerminateExisting.",
    )(fn)
    fn = click.option(
        "--id-reuse-policy",
        default=None,
        metavar="POLICY",
        help="When the id's last run has closed: AllowDuplicate (default), AllowDuplicateFailedOnly, "
        "RejectDuplicate, TerminateIfRunning.",
    )(fn)
    return fn


def start_flags(
    id_reuse_policy: str | None = None,
    id_conflict_policy: str | None = None,
    start_delay: str | None = None,
    memo: tuple[str, ...] = (),
    memo_file: str | None = None,
    task_timeout: str | None = None,
) -> dict[str, Any]:
    """The ``Client.start_workflow`` options for the flags given (those left out are not set)."""
    options: dict[str, Any] = {}
    reuse = _policy("--id-reuse-policy", id_reuse_policy, WorkflowIDReusePolicy)
    if reuse is not None:
        options["id_reuse_policy"] = reuse
    conflict = _policy("--id-conflict-policy", id_conflict_policy, WorkflowIDConflictPolicy)
    if conflict is not None:
        options["id_conflict_policy"] = conflict
    if start_delay is not None:
        options["start_delay"] = timedelta(seconds=parse_duration("--start-delay", start_delay))
    if task_timeout is not None:
        seconds = parse_duration("--task-timeout", task_timeout)
        if not MIN_TASK_TIMEOUT <= seconds <= MAX_TASK_TIMEOUT:
            fail(
                f"--task-timeout must be {MIN_TASK_TIMEOUT:g}s to {MAX_TASK_TIMEOUT:g}s, got {task_timeout!r}",
                EXIT_INVALID,
            )
        options["task_timeout"] = timedelta(seconds=seconds)
    memo_value = _memo(memo, memo_file)
    if memo_value is not None:
        options["memo"] = memo_value
    return options


def start_flags_body(**flags: Any) -> dict[str, Any]:
    """The same options as request fields of the HTTP API (for the commands that call it directly)."""
    body: dict[str, Any] = {}
    for name, value in start_flags(**flags).items():
        if isinstance(value, StrEnum):
            body[name] = value.value
        elif isinstance(value, timedelta):
            body[name] = value.total_seconds()
        else:
            body[name] = value  # the memo: JSON already
    return body
