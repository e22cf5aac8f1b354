"""The ``mainspring workflow ...`` and ``mainspring namespace ...`` commands, run as real processes against a
real server and real workers: what each prints (text and ``-o json``), namespaces, and where the address
comes from.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from support import EXAMPLES, ServerProcess, WorkerProcess, free_port, run_cli, wait_until

HELLO_INPUT = '{"code":"python","kind":"typesafe"}'
EXPECTED = {
    "kind": "worker",
    "platform": "mainspring",
    "features": ["performance", "async", "type-safe", "resource-efficient"],
}
EXTRA_WORKER = Path(__file__).resolve().parent / "workers" / "extra_worker.py"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# --- helpers --------------------------------------------------------------------------------------------


def ok(*args: str, address: str | None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI and require exit status 0."""
    r = run_cli(*args, address=address, env=env, timeout=30)
    assert r.returncode == 0, f"mainspring {' '.join(args)} exited {r.returncode}:\n{r.stderr}"
    return r


def ok_json(*args: str, address: str | None, env: dict[str, str] | None = None) -> Any:
    """Run the CLI with ``-o json``, require exit status 0, and parse what it printed."""
    return json.loads(ok(*args, "-o", "json", address=address, env=env).stdout)


def hello_args(workflow_id: str, task_queue: str = "hello-task-queue") -> list[str]:
    return [
        "--task-queue",
        task_queue,
        "--type",
        "sdk_example_workflow",
        "--workflow-id",
        workflow_id,
        "--input",
        HELLO_INPUT,
    ]


def describe(address: str, workflow_id: str, *extra: str) -> dict[str, Any]:
    data: dict[str, Any] = ok_json("workflow", "describe", "--workflow-id", workflow_id, *extra, address=address)
    return data


def error_line(r: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command printed on stderr."""
    assert r.returncode != 0, f"expected a failure, got exit 0:\n{r.stdout}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{r.stderr}"
    assert lines[0].startswith("Error: "), lines[0]
    return lines[0]


@contextlib.contextmanager
def worker(
    script: Path,
    server: ServerProcess,
    tmp_path: Path,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    kill: bool = False,
) -> Iterator[WorkerProcess]:
    """A worker process for the duration of a ``with`` block (SIGKILLed at the end if ``kill``)."""
    w = WorkerProcess(
        script, server.address, args=args, env=env, log_path=tmp_path / f"{script.stem}-{uuid.uuid4().hex[:6]}.log"
    ).start()
    try:
        yield w
    finally:
        if kill:
            w.kill()
        else:
            w.stop()


# --- start, execute, result -----------------------------------------------------------------------------


def test_start_prints_the_run_id(server: ServerProcess) -> None:
    # No worker is running: starting is still allowed, the workflow waits in its queue.
    r = ok("workflow", "start", *hello_args("start-1"), address=server.address)
    m = re.search(r"^\s*RunId\s+(\S+)\s*$", r.stdout, re.MULTILINE)
    assert m, r.stdout
    run_id = m.group(1)
    assert UUID.match(run_id)
    assert re.search(r"WorkflowId\s+start-1", r.stdout)
    d = describe(server.address, "start-1")
    assert d["execution"]["run_id"] == run_id
    assert d["execution"]["status"] == "RUNNING"
    assert d["input"] == json.loads(HELLO_INPUT)
    assert d["pending_workflow_task"]["state"] == "SCHEDULED"

    data = ok_json("workflow", "start", *hello_args("start-2"), address=server.address)
    assert data["workflow_id"] == "start-2"
    assert UUID.match(data["run_id"]) and data["run_id"] != run_id
    assert data["namespace"] == "default"
    assert data["workflow_type"] == "sdk_example_workflow"
    assert data["task_queue"] == "hello-task-queue"


def test_execute_and_result_print_the_result_as_json(server: ServerProcess, hello_worker: WorkerProcess) -> None:
    r = ok("workflow", "execute", *hello_args("exec-1"), address=server.address)
    assert json.loads(r.stdout) == EXPECTED  # stdout is the result and nothing else
    assert "exec-1" in r.stderr  # progress goes to stderr

    data = ok_json("workflow", "execute", *hello_args("exec-2"), address=server.address)
    assert data["status"] == "COMPLETED"
    assert data["result"] == EXPECTED
    assert data["workflow_id"] == "exec-2"
    assert UUID.match(data["run_id"])

    started = ok_json("workflow", "start", *hello_args("res-1"), address=server.address)
    r = ok("workflow", "result", "--workflow-id", "res-1", address=server.address)
    assert json.loads(r.stdout) == EXPECTED
    assert r.stderr == ""
    data = ok_json("workflow", "result", "--workflow-id", "res-1", address=server.address)
    assert data == {"workflow_id": "res-1", "run_id": started["run_id"], "status": "COMPLETED", "result": EXPECTED}
    r = ok("workflow", "result", "--workflow-id", "res-1", "--run-id", started["run_id"], address=server.address)
    assert json.loads(r.stdout) == EXPECTED

    # describe of a closed workflow: status, both timestamps, the result.
    d = describe(server.address, "res-1")
    e = d["execution"]
    assert e["status"] == "COMPLETED"
    start, close = datetime.fromisoformat(e["start_time"]), datetime.fromisoformat(e["close_time"])
    assert start <= close
    assert d["result"] == EXPECTED
    assert d["pending_activities"] == [] and d["pending_timers"] == [] and d["pending_workflow_task"] is None
    text = ok("workflow", "describe", "--workflow-id", "res-1", address=server.address).stdout
    assert re.search(r"Status\s+COMPLETED", text)
    assert re.search(r"Started\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC", text)
    assert re.search(r"Closed\s+\d{4}-\d\d-\d\d .* UTC \(took \d+\.\d{3}s\)", text)
    assert re.search(r"Result\s+\{", text) and '"platform":"mainspring"' in text


def test_result_gives_up_after_its_timeout(server: ServerProcess) -> None:
    ok("workflow", "start", *hello_args("slow-1", task_queue="nobody-polls-this"), address=server.address)
    r = run_cli("workflow", "result", "--workflow-id", "slow-1", "--timeout", "0.5", address=server.address)
    assert "did not close within 0.5s" in error_line(r)
    assert r.stdout == ""


def test_result_and_execute_fail_with_the_failure_on_stderr(server: ServerProcess, tmp_path: Path) -> None:
    tq = ["--task-queue", "test-task-queue", "--type", "failing_workflow", "--input", '"insufficient funds"']
    with worker(EXTRA_WORKER, server, tmp_path):
        r = run_cli("workflow", "execute", *tq, "--workflow-id", "fail-1", address=server.address, timeout=30)
        assert r.returncode == 5, r.stderr
        assert r.stdout == ""
        assert "Error: workflow fail-1 ended FAILED" in r.stderr
        assert "ActivityError: activity 'decline_card' (id 'charge') failed: card declined: insufficient funds" in (
            r.stderr
        )
        assert "caused by CardDeclined: card declined: insufficient funds" in r.stderr

        r = run_cli("workflow", "result", "--workflow-id", "fail-1", address=server.address)
        assert r.returncode == 5
        assert r.stdout == ""
        assert "ended FAILED" in r.stderr and "caused by CardDeclined: card declined" in r.stderr

        r = run_cli("workflow", "result", "--workflow-id", "fail-1", "-o", "json", address=server.address)
        assert r.returncode == 5
        data = json.loads(r.stdout)
        assert data["status"] == "FAILED" and UUID.match(data["run_id"])
        assert "card declined: insufficient funds" in data["failure"]["message"]
        assert data["failure"]["cause"]["type"] == "CardDeclined"
        assert data["failure"]["cause"]["message"] == "card declined: insufficient funds"

        r = run_cli(
            "workflow", "execute", *tq, "--workflow-id", "fail-2", "-o", "json", address=server.address, timeout=30
        )
        assert r.returncode == 5
        assert json.loads(r.stdout)["failure"]["cause"]["type"] == "CardDeclined"

    d = describe(server.address, "fail-1")
    assert d["execution"]["status"] == "FAILED" and d["execution"]["close_time"]
    assert d["failure"]["cause"]["type"] == "CardDeclined"
    text = ok("workflow", "describe", "--workflow-id", "fail-1", address=server.address).stdout
    assert re.search(r"Status\s+FAILED", text)
    assert "Failure" in text and "caused by CardDeclined: card declined: insufficient funds" in text


# --- describe and show ----------------------------------------------------------------------------------


def test_describe_shows_pending_activities_and_timers(server: ServerProcess, tmp_path: Path) -> None:
    # The order example, with each activity taking 3 s: catch it while its first activity runs.
    with worker(
        EXAMPLES / "order" / "worker.py", server, tmp_path, env={"ORDER_STEP_SECONDS": "3"}, kill=True
    ) as order_worker:
        ok(
            "workflow",
            "start",
            "--task-queue=order-task-queue",
            "--type=order_workflow",
            "--workflow-id=order-1",
            '--input={"order_id": "A-1", "items": 2}',
            address=server.address,
        )
        d = wait_until(
            lambda: (d := describe(server.address, "order-1"))["pending_activities"] and d,
            timeout=15,
            what="the order's first activity to be pending",
        )
        (act,) = d["pending_activities"]
        assert act["activity_type"] == "reserve"
        assert act["state"] == "STARTED" and act["attempt"] == 1
        assert order_worker.proc is not None
        assert act["last_worker_identity"].startswith(f"{order_worker.proc.pid}@")
        assert d["execution"]["status"] == "RUNNING" and d["execution"]["close_time"] is None
        text = ok("workflow", "describe", "--workflow-id", "order-1", address=server.address).stdout
        assert re.search(r"Status\s+RUNNING", text)
        assert "Pending activities (1):" in text
        assert re.search(r"reserve \(id \S+\): STARTED, attempt 1, scheduled \d{4}-\d\d-\d\d .* UTC", text)

    with worker(EXTRA_WORKER, server, tmp_path, kill=True):
        ok(
            "workflow",
            "start",
            "--task-queue=test-task-queue",
            "--type=timer_workflow",
            "--workflow-id=timer-1",
            '--input={"seconds": 30}',
            address=server.address,
        )
        d = wait_until(
            lambda: (d := describe(server.address, "timer-1"))["pending_timers"] and d,
            timeout=15,
            what="the timer to be pending",
        )
        (timer,) = d["pending_timers"]
        waits = datetime.fromisoformat(timer["fire_time"]) - datetime.fromisoformat(d["execution"]["start_time"])
        assert 29 < waits.total_seconds() < 35
        assert d["pending_activities"] == []
        text = ok("workflow", "describe", "--workflow-id", "timer-1", address=server.address).stdout
        assert "Pending timers (1):" in text
        assert re.search(r"timer \S+ fires \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC", text)


def test_show_prints_the_event_history(server: ServerProcess, hello_worker: WorkerProcess) -> None:
    ok("workflow", "execute", *hello_args("show-1"), address=server.address)
    events = ok_json("workflow", "show", "--workflow-id", "show-1", address=server.address)["events"]
    assert [e["event_id"] for e in events] == list(range(1, len(events) + 1))
    types = [e["event_type"] for e in events]
    assert types[0] == "WorkflowExecutionStarted"
    assert types[-1] == "WorkflowExecutionCompleted"
    for expected in ("WorkflowTaskScheduled", "WorkflowTaskStarted", "WorkflowTaskCompleted"):
        assert expected in types
    order = [t for t in types if t.startswith("Activity")]
    assert order == ["ActivityTaskScheduled", "ActivityTaskStarted", "ActivityTaskCompleted"]
    assert events[0]["attributes"]["input"] == json.loads(HELLO_INPUT)
    assert events[-1]["attributes"]["result"] == EXPECTED
    scheduled = events[types.index("ActivityTaskScheduled")]["attributes"]
    assert scheduled["activity_id"] == "sdk_example_activity"
    assert scheduled["activity_type"] == "sdk_example_activity"

    text = ok("workflow", "show", "--workflow-id", "show-1", address=server.address).stdout.splitlines()
    assert re.match(r"\s*ID\s+Time \(UTC\)\s+Type\s+Details", text[0])
    rows = text[1:]
    assert len(rows) == len(events)
    for row, e in zip(rows, events, strict=True):
        assert re.match(rf"\s*{e['event_id']}\s+\d{{4}}-\d\d-\d\dT\S+\s+{e['event_type']}\b", row), row
    assert "activity_id=sdk_example_activity" in text[1 + types.index("ActivityTaskScheduled")]


# --- list -----------------------------------------------------------------------------------------------


def test_list_filters_by_status_type_and_prefix(
    server: ServerProcess, hello_worker: WorkerProcess, tmp_path: Path
) -> None:
    a = server.address
    ok("workflow", "execute", *hello_args("done-1"), address=a)
    ok("workflow", "execute", *hello_args("done-2"), address=a)
    with worker(EXTRA_WORKER, server, tmp_path):
        fail = ["--task-queue=test-task-queue", "--type=failing_workflow", "--input", '"no"']
        assert run_cli("workflow", "execute", *fail, "--workflow-id=fail-1", address=a).returncode == 5
        ok(
            "workflow",
            "start",
            "--task-queue=test-task-queue",
            "--type=timer_workflow",
            "--workflow-id=wait-1",
            '--input={"seconds": 60}',
            address=a,
        )
        ok("workflow", "start", "--task-queue=nobody", "--type=nobody_runs_this", "--workflow-id=queued-1", address=a)

        def ids(*args: str) -> list[str]:
            return [e["workflow_id"] for e in ok_json("workflow", "list", *args, address=a)["executions"]]

        everything = ok_json("workflow", "list", address=a)
        assert [e["workflow_id"] for e in everything["executions"]] == [
            "queued-1",
            "wait-1",
            "fail-1",
            "done-2",
            "done-1",
        ]  # newest first
        assert everything["next_page_token"] is None
        assert {e["status"] for e in everything["executions"]} == {"RUNNING", "FAILED", "COMPLETED"}

        assert ids("--status", "COMPLETED") == ["done-2", "done-1"]
        assert ids("--status", "running") == ["queued-1", "wait-1"]
        assert ids("--status", "FAILED") == ["fail-1"]
        assert ids("--type", "sdk_example_workflow") == ["done-2", "done-1"]
        assert ids("--type", "timer_workflow") == ["wait-1"]
        assert ids("--prefix", "done-") == ["done-2", "done-1"]
        assert ids("--prefix", "wait") == ["wait-1"]
        assert ids("--status", "RUNNING", "--prefix", "queued") == ["queued-1"]
        assert ids("--status", "COMPLETED", "--type", "timer_workflow") == []
        page = ok_json("workflow", "list", "--limit", "2", address=a)
        assert [e["workflow_id"] for e in page["executions"]] == ["queued-1", "wait-1"]
        assert page["next_page_token"]

        text = ok("workflow", "list", address=a).stdout.splitlines()
        assert re.match(r"Status\s+WorkflowId\s+Type\s+Started \(UTC\)\s+RunId", text[0])
        assert len(text) == 6
        assert re.match(r"RUNNING\s+queued-1\s+nobody_runs_this\s+\d{4}-\d\d-\d\d ", text[1])
        assert re.match(r"FAILED\s+fail-1\s+failing_workflow\s", text[3])
        filtered = ok("workflow", "list", "--status", "completed", address=a).stdout.splitlines()
        assert [line.split()[1] for line in filtered[1:]] == ["done-2", "done-1"]
        assert ok("workflow", "list", "--prefix", "zzz", address=a).stdout.strip() == "No workflows."

        r = run_cli("workflow", "list", "--status", "SLEEPING", address=a)
        assert r.returncode == 2 and "SLEEPING" in r.stderr


# --- namespaces -----------------------------------------------------------------------------------------


def test_namespaces_keep_workflows_apart(server: ServerProcess, tmp_path: Path) -> None:
    a = server.address
    assert ok("namespace", "create", "team-a", address=a).stdout.strip() == "Namespace team-a is ready."
    again = ok_json("namespace", "create", "team-a", "--description", "ignored", address=a)
    assert again["name"] == "team-a"  # creating it again is harmless
    assert ok("namespace", "list", address=a).stdout.splitlines() == ["default", "team-a"]

    ns = ["--namespace", "team-a"]
    with worker(EXAMPLES / "hello" / "worker.py", server, tmp_path, args=ns):
        started = ok_json("workflow", "start", *ns, *hello_args("shared-id"), address=a)
        assert started["namespace"] == "team-a"
        assert json.loads(ok("workflow", "result", *ns, "--workflow-id", "shared-id", address=a).stdout) == EXPECTED
        assert json.loads(ok("workflow", "execute", *ns, *hello_args("only-a"), address=a).stdout) == EXPECTED
    assert describe(a, "shared-id", *ns)["execution"]["namespace"] == "team-a"
    assert ok_json("workflow", "show", *ns, "--workflow-id", "only-a", address=a)["events"]
    listed = ok_json("workflow", "list", *ns, address=a)["executions"]
    assert sorted(e["workflow_id"] for e in listed) == ["only-a", "shared-id"]
    assert {e["namespace"] for e in listed} == {"team-a"}

    # Nothing of team-a is visible from the default namespace.
    assert ok_json("workflow", "list", address=a)["executions"] == []
    for cmd in ("describe", "show", "result"):
        r = run_cli("workflow", cmd, "--workflow-id", "only-a", address=a)
        assert "workflow 'only-a' not found in namespace 'default'" in error_line(r)

    # The same workflow id in another namespace is another workflow (no worker there: it stays queued).
    other_run = ok_json("workflow", "start", *hello_args("shared-id"), address=a)
    assert other_run["namespace"] == "default" and other_run["run_id"] != started["run_id"]
    assert describe(a, "shared-id")["execution"]["status"] == "RUNNING"
    assert describe(a, "shared-id", *ns)["execution"]["status"] == "COMPLETED"


def test_start_dev_namespace_option_and_the_namespace_environment_variable(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "ns.db", extra_args=["--namespace", "team-b"]).start()
    try:
        a = srv.address
        assert "Namespaces  default, team-b" in srv.log()
        assert [n["name"] for n in ok_json("namespace", "list", address=a)] == ["default", "team-b"]

        # MAINSPRING_NAMESPACE picks the namespace when --namespace is not given.
        env = {"MAINSPRING_NAMESPACE": "team-b"}
        assert ok_json("workflow", "start", *hello_args("in-b"), address=a, env=env)["namespace"] == "team-b"
        in_b = ok_json("workflow", "list", "-n", "team-b", address=a)["executions"]
        assert [e["workflow_id"] for e in in_b] == ["in-b"]
        assert ok_json("workflow", "list", address=a)["executions"] == []
        r = run_cli("workflow", "describe", "--workflow-id", "in-b", "--namespace", "default", address=a, env=env)
        assert "not found in namespace 'default'" in error_line(r)  # the flag beats the environment

        line = error_line(run_cli("workflow", "list", "--namespace", "nope", address=a))
        assert "namespace 'nope' does not exist" in line and "mainspring namespace create nope" in line
    finally:
        srv.stop()


# --- where the address comes from -------------------------------------------------------------------------


def test_every_command_takes_the_address_from_the_flag_or_the_environment(
    server: ServerProcess, hello_worker: WorkerProcess
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    ok("workflow", "execute", *hello_args("addr-0"), address=server.address)
    commands: list[list[str]] = [
        ["workflow", "start", *hello_args("addr-1")],
        ["workflow", "execute", *hello_args("addr-2")],
        ["workflow", "result", "--workflow-id", "addr-0"],
        ["workflow", "describe", "--workflow-id", "addr-0"],
        ["workflow", "show", "--workflow-id", "addr-0"],
        ["workflow", "list"],
        ["namespace", "list"],
        ["namespace", "create", "addr-ns"],
    ]
    for cmd in commands:
        # --address wins over MAINSPRING_ADDRESS (which points at nothing here).
        ok(*cmd, "--address", server.address, address=dead)
    for cmd in commands:
        cmd = [c.replace("addr-1", "addr-3").replace("addr-2", "addr-4") for c in cmd]
        # MAINSPRING_ADDRESS alone; and every command's -o json parses.
        assert ok_json(*cmd, address=server.address) is not None
    # A URL works as an address too.
    assert ok_json("workflow", "list", "--address", server.url, address=dead)["executions"]

    # The flag pointing at nothing fails even though the environment points at the server.
    r = run_cli("workflow", "list", "--address", dead, address=server.address)
    assert dead in error_line(r)

    # With neither, the default is localhost:7233 (only checked when nothing listens there).
    with socket.socket() as s:
        free_7233 = s.connect_ex(("127.0.0.1", 7233)) != 0
    if free_7233:
        r = run_cli("workflow", "list", env={"MAINSPRING_ADDRESS": ""})
        assert "localhost:7233" in error_line(r)

    ids = sorted(e["workflow_id"] for e in ok_json("workflow", "list", address=server.address)["executions"])
    assert ids == ["addr-0", "addr-1", "addr-2", "addr-3", "addr-4"]
