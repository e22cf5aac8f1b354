"""The two examples side by side, as a newcomer runs them: one server, both example workers at once (real
processes), workflows started with each example's starter script. Each example has a task queue of its own,
so neither worker is handed the other's tasks: no workflow task fails for a type its worker does not run,
and no activity attempt is spent on a worker without that activity.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from support import EXAMPLES, PYTHON, ServerProcess, WorkerProcess, run_cli

pytestmark = pytest.mark.slow

ORDERS = ("2001", "2002", "2003")
HELLOS = ("hello-1", "hello-2", "hello-3")
STEPS = ("reserve", "charge", "pack", "ship", "notify")


def starter(example: str, address: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, str(EXAMPLES / example / "starter.py"), "--address", address, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def history(address: str, workflow_id: str) -> list[dict[str, Any]]:
    shown = run_cli("workflow", "show", "--workflow-id", workflow_id, "-o", "json", address=address, timeout=30)
    assert shown.returncode == 0, shown.stderr
    events: list[dict[str, Any]] = json.loads(shown.stdout)["events"]
    return events


def test_both_example_workers_at_once_each_runs_only_its_own_workflows(
    server: ServerProcess, hello_worker: WorkerProcess, order_worker: WorkerProcess, tmp_path: Path
) -> None:
    # Started together, as two terminals would: three orders and three hellos in flight at once.
    procs = {f"order-{o}": starter("order", server.address, "--order-id", o) for o in ORDERS}
    procs.update({h: starter("hello", server.address, "--workflow-id", h) for h in HELLOS})
    outputs = {}
    for workflow_id, proc in procs.items():
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, f"{workflow_id}'s starter exited {proc.returncode}:\n{err}"
        outputs[workflow_id] = out.strip()
    for o in ORDERS:
        assert outputs[f"order-{o}"] == f"order {o}: reserve -> charge -> pack -> ship -> notify"
    for h in HELLOS:
        assert outputs[h] == "mainspring ['performance', 'async', 'type-safe', 'resource-efficient']"

    # Every task of a workflow, workflow tasks and activities alike, went to that example's worker (a worker's
    # identity is PID@HOST), and none failed.
    assert hello_worker.proc is not None and order_worker.proc is not None
    own = {"order": f"{order_worker.proc.pid}@", "hello": f"{hello_worker.proc.pid}@"}
    for workflow_id in procs:
        events = history(server.address, workflow_id)
        assert events[-1]["event_type"] == "WorkflowExecutionCompleted"
        failed = [e for e in events if e["event_type"] == "WorkflowTaskFailed"]
        assert not failed, f"{workflow_id}: a workflow task failed: {failed}"
        identities = {e["attributes"]["identity"] for e in events if e["event_type"].endswith("TaskStarted")}
        assert identities, workflow_id
        worker = own["order" if workflow_id.startswith("order-") else "hello"]
        assert all(i.startswith(worker) for i in identities), (workflow_id, identities, own)

    # Every order activity ran on the order worker, each once, and only charge needed its second attempt (its
    # first always fails, by design): none was spent on the hello worker as an unknown activity.
    lines = (tmp_path / "order-steps.log").read_text().split()
    runs = Counter(tuple(lines[i : i + 3]) for i in range(0, len(lines), 3))
    expected = {(o, step, "2" if step == "charge" else "1"): 1 for o in ORDERS for step in STEPS}
    assert runs == expected
    for o in ORDERS:
        events = history(server.address, f"order-{o}")
        types = {
            e["event_id"]: e["attributes"]["activity_type"]
            for e in events
            if e["event_type"] == "ActivityTaskScheduled"
        }
        attempts = {
            types[e["attributes"]["scheduled_event_id"]]: e["attributes"]["attempt"]
            for e in events
            if e["event_type"] == "ActivityTaskStarted"
        }
        assert attempts == {step: 2 if step == "charge" else 1 for step in STEPS}

    # Each queue has its own worker, announcing only its own example's types.
    queues = httpx.get(server.url + "/api/v1/namespaces/default/task-queues", timeout=10).json()["task_queues"]
    announced = {q["name"]: sorted(t for w in q["workers"] for t in w["workflow_types"]) for q in queues}
    assert announced["hello-task-queue"] == ["sdk_example_workflow"]
    assert announced["order-task-queue"] == ["order_workflow"]
    for log in (hello_worker.log(), order_worker.log()):
        assert "not registered" not in log and "Unknown" not in log, log


def test_the_greeting_example_talks_to_its_running_workflow(server: ServerProcess, tmp_path: Path) -> None:
    """Temporal's message-passing sample, ported: a query, updates (one rejected by its validator, one that
    runs an activity), a signal that ends the run."""
    worker = WorkerProcess(EXAMPLES / "greeting" / "worker.py", server.address, log_path=tmp_path / "g.log").start()
    try:
        proc = starter("greeting", server.address, "--workflow-id", "greeting-ex")
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
    finally:
        worker.stop()
    assert out.splitlines() == [
        "supported languages: CHINESE, ENGLISH",
        "language changed: ENGLISH -> CHINESE",
        "update rejected: ARABIC is not supported",
        "language changed: CHINESE -> ARABIC",
        "greeting: مرحبا بالعالم",
    ]
    events = history(server.address, "greeting-ex")
    kinds = Counter(e["event_type"] for e in events)
    # Two updates accepted and completed; the rejected one left nothing; the approval is the one signal.
    assert kinds["WorkflowExecutionUpdateAccepted"] == kinds["WorkflowExecutionUpdateCompleted"] == 2
    assert kinds["WorkflowExecutionSignaled"] == 1 and kinds["ActivityTaskCompleted"] == 1
    assert events[-1]["event_type"] == "WorkflowExecutionCompleted"
