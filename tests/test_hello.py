"""The hello walkthrough end to end: real CLI, real server process, real worker process."""

from __future__ import annotations

import json

from support import ServerProcess, WorkerProcess, run_cli

EXPECTED = {
    "kind": "worker",
    "platform": "mainspring",
    "features": ["performance", "async", "type-safe", "resource-efficient"],
}


def test_hello_start_then_result(server: ServerProcess, hello_worker: WorkerProcess) -> None:
    started = run_cli(
        "workflow",
        "start",
        "--task-queue=hello-task-queue",
        "--type=sdk_example_workflow",
        "--workflow-id=example_id",
        '--input={"code":"python","kind":"typesafe"}',
        address=server.address,
    )
    assert started.returncode == 0, started.stderr
    assert "RunId" in started.stdout
    result = run_cli("workflow", "result", "--workflow-id", "example_id", address=server.address)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == EXPECTED

    shown = run_cli("workflow", "show", "--workflow-id", "example_id", "-o", "json", address=server.address)
    types = [e["event_type"] for e in json.loads(shown.stdout)["events"]]
    assert types[0] == "WorkflowExecutionStarted"
    assert types[-1] == "WorkflowExecutionCompleted"
    completed = next(e for e in json.loads(shown.stdout)["events"] if e["event_type"] == "ActivityTaskCompleted")
    assert completed["attributes"]["result"] == ["Workflow written in typesafe python", EXPECTED]
