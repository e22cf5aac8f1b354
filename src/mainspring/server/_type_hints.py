"""Why a workflow task may wait forever: no worker polls its queue, or none there runs its type.

A start names its workflow type as free text, so a typo (``--type helo``) is accepted and its result
waits forever. The server cannot refuse it (a worker that runs the type may come later), but when the
workers of the queue have announced the types they run (worker registration carries them), it can say
at start that none of them runs this one, and name the closest match; and ``describe`` can say why a
pending workflow task is not picked up. Both read only the in-memory sessions: no I/O.
"""

from __future__ import annotations

import difflib

from ._matching import Matching

__all__ = ["NO_WORKER_POLLING", "NO_WORKER_RUNS_TYPE", "pending_task_hint", "start_warning"]

NO_WORKER_POLLING = "no worker polling this task queue"
NO_WORKER_RUNS_TYPE = "no worker here runs this type"

#: At most this many known types are named in a warning.
_MOST_NAMED = 20


def _announced_types(matching: Matching, namespace: str, task_queue: str) -> set[str] | None:
    """The workflow types the workers polling the queue run, or None if no worker of the queue runs any
    (an activity-only worker does not poll workflow tasks)."""
    types: set[str] = set()
    for s in matching.sessions.values():
        if s.namespace == namespace and s.task_queue == task_queue and not s.closed:
            types.update(s.workflow_types)
    return types or None


def _named(types: set[str]) -> str:
    names = sorted(types)
    shown = ", ".join(repr(n) for n in names[:_MOST_NAMED])
    return shown + (f" and {len(names) - _MOST_NAMED} more" if len(names) > _MOST_NAMED else "")


def start_warning(matching: Matching, namespace: str, task_queue: str, workflow_type: str) -> str | None:
    """A warning for a start of ``workflow_type`` on ``task_queue`` that no worker polling it runs, or
    None (a worker runs it, or no worker of the queue has announced its types yet)."""
    types = _announced_types(matching, namespace, task_queue)
    if types is None or workflow_type in types:
        return None
    close = difflib.get_close_matches(workflow_type, sorted(types), n=1)
    guess = f" Did you mean {close[0]!r}?" if close else ""
    return (
        f"no worker polling task queue {task_queue!r} runs workflow type {workflow_type!r}; they run "
        f"{_named(types)}.{guess} The run was started, and waits until a worker that runs its type polls "
        "this queue."
    )


def pending_task_hint(matching: Matching, namespace: str, task_queue: str, workflow_type: str) -> str | None:
    """Why a scheduled workflow task is not being picked up, if the server can tell, else None."""
    types = _announced_types(matching, namespace, task_queue)
    if types is None:
        return NO_WORKER_POLLING
    if workflow_type not in types:
        return f"{NO_WORKER_RUNS_TYPE} (the workers polling this task queue run {_named(types)})"
    return None
