"""Worker builds: which build a run is on, and which workers may run its workflow tasks.

A worker may declare the build of its code (``Worker(build_id="2024-06-01", versioning=...)``). The first
workflow task a worker with a build completes records that build as the one that started the run, with the
versioning behavior the worker declares for the run's type; every later task records the build that ran it:

- ``PINNED``: the run's tasks (its workflow tasks, and its activities on its own task queue) go only to
  workers of that build (``Matching.build_queue``), to its end, so
  code that is not replay-compatible can be deployed as a new build beside the old one; new runs go to the
  newest build. A pinned run whose build has no worker left waits, and ``describe`` says so.
- ``AUTO_UPGRADE`` (the default for a worker with a build): the run's tasks go to the queue's current build,
  so it moves to a new build at its next workflow task.

A run that no worker with a build has run is unversioned: any worker of the queue may run it. The state is
three short strings in the run's core (``ExecutionState.build``); the WorkflowTaskCompleted event names the
build too (``worker_version``), so the history says which build made each decision. Each build that ran a
task joins the run's ``BuildIds`` search attribute (``features.search_attributes``): ``BuildId = 'x'`` lists
the runs a build touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ...api.enums import VersioningBehavior
from .search_attributes import note_build as listed_build

if TYPE_CHECKING:
    from .._matching import Matching, Session
    from .._state import ExecutionState

__all__ = ["activity_pin", "describe_build", "note_build", "pin_of", "pinned_hint", "queue_builds"]

_PINNED = VersioningBehavior.PINNED.value


def pin_of(st: ExecutionState) -> str | None:
    """The build the run's workflow tasks must go to, or None (any eligible worker of the queue)."""
    b = st.build
    if b is None or b.get("v") != _PINNED:
        return None
    return b.get("c")


def activity_pin(st: ExecutionState, run_task_queue: str, activity_task_queue: str) -> str | None:
    """The build a pinned run's activity must go to: its own, for an activity on the run's own task queue
    (the workers of its build run the activities its code expects); None on another queue."""
    return pin_of(st) if activity_task_queue == run_task_queue else None


def note_build(st: ExecutionState, session: Session | None, workflow_type: str) -> dict[str, Any] | None:
    """A workflow task of the run was completed by ``session``: record its build. Returns the
    WorkflowTaskCompleted event's ``worker_version`` attribute, or None for a worker without a build."""
    if session is None or session.build_id is None:
        return None
    build = session.build_id
    behavior = session.versioning.get(workflow_type, VersioningBehavior.AUTO_UPGRADE.value)
    b = st.build
    if b is None or b.get("c") != build:
        listed_build(st, build)  # (its BuildIds: list filters read them)
    if b is None:
        st.build = {"b": build, "c": build, "v": behavior}
    elif b.get("c") != build or b.get("v") != behavior:
        st.build = {**b, "c": build, "v": behavior}
    return {"build_id": build, "versioning_behavior": behavior}


def describe_build(st: ExecutionState) -> dict[str, Any]:
    """The describe fields of the run's build (all None for an unversioned run)."""
    b = st.build or {}
    return {"build_id": b.get("b"), "current_build_id": b.get("c"), "versioning_behavior": b.get("v")}


def pinned_hint(matching: Matching, namespace: str, task_queue: str, st: ExecutionState) -> str | None:
    """Why a pinned run's workflow task waits, when no worker of its build polls the queue (else None)."""
    pin = pin_of(st)
    if pin is None:
        return None
    builds = set()
    for s in matching.sessions.values():
        if s.namespace == namespace and s.task_queue == task_queue and not s.closed:
            if s.build_id == pin:
                return None
            if s.build_id is not None:
                builds.add(s.build_id)
    polling = f" (builds polling it: {', '.join(sorted(builds))})" if builds else ""
    return (
        f"pinned to build {pin!r}, and no worker of that build polls task queue {task_queue!r}{polling}: "
        f"start a worker with build_id={pin!r}, or reset the run to move it"
    )


def queue_builds(
    matching: Matching, namespace: str, task_queue: str, backlog: Callable[[Iterable[Any]], int]
) -> list[dict[str, Any]]:
    """The builds polling a task queue: their live workers, whether new runs go to it, their pinned backlog
    (``backlog`` counts the tasks of a queue still waiting)."""
    current = matching.queue(namespace, task_queue, "workflow").current_build
    workers: dict[str, int] = {}
    for s in matching.sessions.values():
        if s.build_id is not None and s.namespace == namespace and s.task_queue == task_queue and not s.closed:
            workers[s.build_id] = workers.get(s.build_id, 0) + 1
    for (ns, name, build, kind), q in matching.build_queues.items():
        if kind == "workflow" and ns == namespace and name == task_queue and (q.ready or build in workers):
            workers.setdefault(build, 0)
    out = []
    for build in sorted(workers):
        bq = matching.build_queues.get((namespace, task_queue, build, "workflow"))
        out.append(
            {
                "build_id": build,
                "workers": workers[build],
                "current": build == current,
                "pinned_backlog": backlog(bq.ready) if bq is not None else 0,
            }
        )
    return out
