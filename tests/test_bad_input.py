"""Bad input, through the real CLI and straight at the HTTP API: each gets a clear one-line error and a non-zero
exit (CLI) or a 4xx with a JSON body {"code", "message"} (API), and nothing stored is corrupted: afterwards
``workflow list`` shows only what should be there and a normal hello workflow still runs.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from mainspring import Client, InvalidArgumentError, MainspringError
from support import EXAMPLES, ServerProcess, WorkerProcess, free_port, run_cli, wait_until

HELLO_INPUT = '{"code":"python","kind":"typesafe"}'
EXPECTED = {
    "kind": "worker",
    "platform": "mainspring",
    "features": ["performance", "async", "type-safe", "resource-efficient"],
}
HELLO_WORKER = EXAMPLES / "hello" / "worker.py"
ORDER_WORKER = EXAMPLES / "order" / "worker.py"
EXTRA_WORKER = Path(__file__).resolve().parent / "workers" / "extra_worker.py"
WORKFLOWS = "/api/v1/namespaces/default/workflows"


# --- helpers --------------------------------------------------------------------------------------------


def cli_error(*args: str, address: str | None, env: dict[str, str] | None = None) -> str:
    """Run the CLI, require a non-zero exit and exactly one line on stderr, and return that line."""
    r = run_cli(*args, address=address, env=env, timeout=30)
    assert r.returncode != 0, f"mainspring {' '.join(args)} should have failed:\n{r.stdout}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, f"mainspring {' '.join(args)}: expected one line on stderr, got:\n{r.stderr}"
    assert lines[0].startswith("Error: "), lines[0]
    assert r.stdout == ""
    return lines[0]


def ok(*args: str, address: str | None) -> subprocess.CompletedProcess[str]:
    r = run_cli(*args, address=address, timeout=30)
    assert r.returncode == 0, f"mainspring {' '.join(args)} exited {r.returncode}:\n{r.stderr}"
    return r


def ok_json(*args: str, address: str | None) -> Any:
    return json.loads(ok(*args, "-o", "json", address=address).stdout)


def api_error(response: httpx.Response, status: int, code: str | None = None) -> str:
    """Check an error answer: the status, a JSON body with code and message; return the message."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body.get("code"), str) and body["code"], body
    assert isinstance(body.get("message"), str) and body["message"], body
    assert "\n" not in body["message"]
    if code is not None:
        assert body["code"] == code, body
    message: str = body["message"]
    return message


def start_body(workflow_id: str, /, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "workflow_id": workflow_id,
        "workflow_type": "sdk_example_workflow",
        "task_queue": "hello-task-queue",
        "input": json.loads(HELLO_INPUT),
    }
    body.update(overrides)
    return body


def hello_args(workflow_id: str, task_queue: str = "hello-task-queue", input_: str = HELLO_INPUT) -> list[str]:
    return [
        "--task-queue",
        task_queue,
        "--type",
        "sdk_example_workflow",
        "--workflow-id",
        workflow_id,
        "--input",
        input_,
    ]


def assert_intact(server: ServerProcess, expected_ids: Sequence[str]) -> None:
    """Only ``expected_ids`` are stored (one entry per run), and a normal hello workflow still runs.

    Needs a hello worker polling hello-task-queue in the default namespace.
    """
    listed = ok_json("workflow", "list", "--limit", "1000", address=server.address)["executions"]
    assert sorted(e["workflow_id"] for e in listed) == sorted(expected_ids)
    check_id = f"after-{uuid.uuid4().hex[:8]}"
    r = ok("workflow", "execute", *hello_args(check_id), address=server.address)
    assert json.loads(r.stdout) == EXPECTED
    listed = ok_json("workflow", "list", "--limit", "1000", address=server.address)["executions"]
    assert sorted(e["workflow_id"] for e in listed) == sorted([*expected_ids, check_id])


@contextlib.contextmanager
def worker(script: Path, server: ServerProcess, tmp_path: Path, args: Sequence[str] = ()) -> Iterator[WorkerProcess]:
    w = WorkerProcess(
        script, server.address, args=args, log_path=tmp_path / f"{script.stem}-{uuid.uuid4().hex[:6]}.log"
    ).start()
    try:
        yield w
    finally:
        w.stop()


# --- a workflow type no worker knows ------------------------------------------------------------------------


def test_unknown_workflow_type_waits_for_a_worker_that_knows_it(
    server: ServerProcess, hello_worker: WorkerProcess, tmp_path: Path
) -> None:
    a = server.address
    tq = "tq-unknown"
    # --workflows-only: this worker polls no activity tasks; see test_api.py's
    # test_server_stops_promptly_after_a_worker_left for why that matters for this test's duration.
    with worker(EXTRA_WORKER, server, tmp_path, args=["--task-queue", tq, "--workflows-only"]):
        ok(
            "workflow",
            "start",
            f"--task-queue={tq}",
            "--type=order_workflow",
            "--workflow-id=unknown-1",
            '--input={"order_id": "U-1", "items": 1}',
            address=a,
        )

        def failed_task() -> dict[str, Any] | None:
            d: dict[str, Any] = ok_json("workflow", "describe", "--workflow-id", "unknown-1", address=a)
            wt = d["pending_workflow_task"]
            return d if wt and wt["last_failure"] else None

        d = wait_until(failed_task, timeout=15, what="the workflow task to fail on the worker that lacks the type")
        assert d["execution"]["status"] == "RUNNING"
        message = d["pending_workflow_task"]["last_failure"]["message"]
        assert "'order_workflow' is not registered on this worker" in message
        assert "blocking_workflow, failing_workflow, timer_workflow" in message  # what that worker has
        assert d["pending_workflow_task"]["attempt"] >= 2

        text = ok("workflow", "describe", "--workflow-id", "unknown-1", address=a).stdout
        assert "Pending workflow task:" in text
        assert "last failure: UnknownWorkflowType: workflow type 'order_workflow' is not registered" in text
        assert "blocking_workflow, failing_workflow, timer_workflow" in text

        events = ok_json("workflow", "show", "--workflow-id", "unknown-1", address=a)["events"]
        failed = [e for e in events if e["event_type"] == "WorkflowTaskFailed"]
        assert failed, [e["event_type"] for e in events]
        assert failed[0]["attributes"]["cause"] == "UNKNOWN_WORKFLOW_TYPE"
        assert "failing_workflow" in failed[0]["attributes"]["failure"]["message"]
        assert "WorkflowExecutionFailed" not in [e["event_type"] for e in events]
        shown = ok("workflow", "show", "--workflow-id", "unknown-1", address=a).stdout
        assert "WorkflowTaskFailed" in shown and "UNKNOWN_WORKFLOW_TYPE" in shown

    # A worker that knows the type picks the workflow up and finishes it.
    with worker(ORDER_WORKER, server, tmp_path, args=["--task-queue", tq]):
        r = ok("workflow", "result", "--workflow-id", "unknown-1", "--timeout", "20", address=a)
        assert json.loads(r.stdout) == {"order_id": "U-1", "steps": ["reserve", "charge", "pack", "ship", "notify"]}
    assert_intact(server, ["unknown-1"])


# --- malformed JSON ---------------------------------------------------------------------------------------


def test_malformed_json_input_is_refused(server: ServerProcess, hello_worker: WorkerProcess, tmp_path: Path) -> None:
    a = server.address
    for bad in ('{"code": python}', "{'code': 'python'}", '{"code": "python",', ""):
        for cmd in ("start", "execute"):
            line = cli_error("workflow", cmd, *hello_args("bad-json", input_=bad), address=a)
            assert "--input is not valid JSON" in line, line
    bad_file = tmp_path / "input.json"
    bad_file.write_text('{"code": "python", "kind": }')
    args = ["--task-queue=hello-task-queue", "--type=sdk_example_workflow", "--workflow-id=bad-json"]
    assert "is not valid JSON" in cli_error("workflow", "start", *args, "--input-file", str(bad_file), address=a)
    missing = tmp_path / "missing.json"
    line = cli_error("workflow", "start", *args, "--input-file", str(missing), address=a)
    assert f"cannot read --input-file '{missing}'" in line
    line = cli_error("workflow", "start", *args, "--input", "{}", "--input-file", str(bad_file), address=a)
    assert "either --input or --input-file" in line

    with httpx.Client(base_url=server.url) as http:
        message = api_error(
            http.post(WORKFLOWS, content=b'{"workflow_id": "bad-json", "input": {', headers=_JSON),
            400,
            "invalid_argument",
        )
        assert "not valid JSON" in message
    assert_intact(server, [])


_JSON = {"content-type": "application/json"}


# --- input of the wrong shape ---------------------------------------------------------------------------------

WRONG_SHAPES = [
    ('{"code": 1, "kind": "typesafe"}', "field 'code' must be a string, got an integer (1)"),
    ('{"kind": "typesafe"}', "field 'code' is required"),
    ('{"code": "python", "kind": ["typesafe"]}', """field 'kind' must be a string, got an array (["typesafe"])"""),
    ('"python"', 'the input must be an object, got a string ("python")'),
]
EARLY_SHAPES = WRONG_SHAPES[:2]


def test_wrong_shape_is_refused_at_start_once_a_worker_announced_the_type(
    server: ServerProcess, hello_worker: WorkerProcess
) -> None:
    a = server.address
    with httpx.Client(base_url=server.url) as http:
        for i, (text, problem) in enumerate(WRONG_SHAPES):
            for cmd in ("start", "execute"):
                line = cli_error("workflow", cmd, *hello_args(f"shape-{i}", input_=text), address=a)
                assert line == f"Error: invalid input for workflow 'sdk_example_workflow': {problem}", line
            message = api_error(
                http.post(WORKFLOWS, json=start_body(f"shape-{i}", input=json.loads(text))), 400, "invalid_input"
            )
            assert message == f"invalid input for workflow 'sdk_example_workflow': {problem}"
        # No input at all, for a workflow that takes one.
        line = cli_error(
            "workflow",
            "start",
            "--task-queue=hello-task-queue",
            "--type=sdk_example_workflow",
            "--workflow-id=no-input",
            address=a,
        )
        assert "invalid input for workflow 'sdk_example_workflow': the input must be an object, got null" in line
    assert_intact(server, [])


def test_wrong_shape_before_any_worker_fails_the_workflow_before_its_code_runs(
    server: ServerProcess, tmp_path: Path
) -> None:
    a = server.address
    # (Two of the shapes: each one costs a few CLI runs, and the worker's check is the same for all.)
    # No worker has announced the type yet: the server cannot check the input, so the start is accepted.
    for i, (text, _) in enumerate(EARLY_SHAPES):
        ok("workflow", "start", *hello_args(f"early-{i}", input_=text), address=a)
        assert ok_json("workflow", "describe", "--workflow-id", f"early-{i}", address=a)["execution"]["status"] == (
            "RUNNING"
        )

    with worker(HELLO_WORKER, server, tmp_path), httpx.Client(base_url=server.url) as http:
        for i, (text, problem) in enumerate(EARLY_SHAPES):
            wid = f"early-{i}"
            r = run_cli("workflow", "result", "--workflow-id", wid, "--timeout", "15", address=a)
            assert r.returncode == 5, r.stderr
            assert r.stdout == ""
            assert f"Error: workflow {wid} ended FAILED" in r.stderr
            clear = f"invalid input for workflow 'sdk_example_workflow': {problem}"
            assert f"InvalidInput: {clear}" in r.stderr

            d = ok_json("workflow", "describe", "--workflow-id", wid, address=a)
            assert d["execution"]["status"] == "FAILED"
            assert d["failure"]["type"] == "InvalidInput" and d["failure"]["message"] == clear
            types = [e["event_type"] for e in ok_json("workflow", "show", "--workflow-id", wid, address=a)["events"]]
            assert types[-1] == "WorkflowExecutionFailed"
            assert not [t for t in types if t.startswith(("Activity", "Timer"))]  # no workflow code ran

            # Now that the worker announced the type, the server refuses the same input with the same words.
            message = api_error(http.post(WORKFLOWS, json=start_body(f"late-{i}", input=json.loads(text))), 400)
            assert message == clear

        assert_intact(server, [f"early-{i}" for i in range(len(EARLY_SHAPES))])


# --- a workflow id that is already running -----------------------------------------------------------------


def test_starting_a_running_workflow_id_again_is_refused(
    server: ServerProcess, hello_worker: WorkerProcess, tmp_path: Path
) -> None:
    a = server.address
    idle = "tq-idle"  # nobody polls it (yet), so the workflow stays running
    first = ok_json("workflow", "start", *hello_args("dup", task_queue=idle), address=a)
    for cmd in ("start", "execute"):
        line = cli_error("workflow", cmd, *hello_args("dup", task_queue=idle), address=a)
        assert f"workflow 'dup' is already running (run id {first['run_id']})" in line
    # Another task queue or type does not make it another workflow.
    assert "already running" in cli_error("workflow", "start", *hello_args("dup"), address=a)

    with httpx.Client(base_url=server.url) as http:
        r = http.post(WORKFLOWS, json=start_body("dup", task_queue=idle))
        assert "already running" in api_error(r, 409, "already_started")
        assert r.json()["details"]["run_id"] == first["run_id"]
        # The same request id is a retry of the same start, not a second one.
        body = start_body("dup-idem", task_queue=idle, request_id="req-1")
        r1, r2 = http.post(WORKFLOWS, json=body), http.post(WORKFLOWS, json=body)
        assert (r1.status_code, r2.status_code) == (201, 200)
        assert r1.json()["run_id"] == r2.json()["run_id"]

    listed = ok_json("workflow", "list", "--prefix", "dup", address=a)["executions"]
    assert sorted((e["workflow_id"], e["run_id"]) for e in listed) == [
        ("dup", first["run_id"]),
        ("dup-idem", r1.json()["run_id"]),
    ]
    # Once the run closes, the id can be used again.
    with worker(HELLO_WORKER, server, tmp_path, args=["--task-queue", idle]):
        assert json.loads(ok("workflow", "result", "--workflow-id", "dup", address=a).stdout) == EXPECTED
        second = ok_json("workflow", "execute", *hello_args("dup", task_queue=idle), address=a)
        assert second["status"] == "COMPLETED" and second["run_id"] != first["run_id"]
        ok("workflow", "result", "--workflow-id", "dup-idem", address=a)
    assert_intact(server, ["dup", "dup", "dup-idem"])


def test_a_refused_start_leaves_no_trace_though_a_worker_polls_its_queue(
    server: ServerProcess, hello_worker: WorkerProcess
) -> None:
    """The server hands a new run's first workflow task out while the start is being written; when
    that write is refused (the id is running), the worker's work on it must be dropped, not recorded."""
    a = server.address
    idle = "tq-idle"
    first = ok_json("workflow", "start", *hello_args("dup-polled", task_queue=idle), address=a)
    with httpx.Client(base_url=server.url) as http:
        for _ in range(20):  # on the queue the hello worker polls: each refused start was offered to it
            r = http.post(WORKFLOWS, json=start_body("dup-polled"))
            assert "already running" in api_error(r, 409, "already_started")
        history = http.get(f"{WORKFLOWS}/history", params={"workflow_id": "dup-polled"}).json()["events"]
    assert [e["event_type"] for e in history] == ["WorkflowExecutionStarted", "WorkflowTaskScheduled"]
    described = ok_json("workflow", "describe", "--workflow-id", "dup-polled", address=a)
    assert described["execution"]["run_id"] == first["run_id"], described
    assert described["execution"]["status"] == "RUNNING"
    assert_intact(server, ["dup-polled"])  # and the worker still runs workflows


# --- invalid names ----------------------------------------------------------------------------------------


def test_invalid_names_are_refused(server: ServerProcess, hello_worker: WorkerProcess) -> None:
    a = server.address

    def start_error(workflow_id: str = "ok-id", task_queue: str = "hello-task-queue", wtype: str = "t") -> str:
        return cli_error(
            "workflow",
            "start",
            "--workflow-id",
            workflow_id,
            "--task-queue",
            task_queue,
            "--type",
            wtype,
            address=a,
        )

    assert "invalid workflow id '': it must be a non-empty string" in start_error(workflow_id="")
    assert "invalid workflow id 'a\\nb': it must not contain control characters" in start_error(workflow_id="a\nb")
    assert "invalid workflow id ' lead': it must not start or end with whitespace" in start_error(workflow_id=" lead")
    assert "the limit is 1000" in start_error(workflow_id="x" * 1001)
    assert "invalid task queue ''" in start_error(task_queue="")
    assert "invalid task queue 'q\\t'" in start_error(task_queue="q\t")
    assert "invalid workflow type ''" in start_error(wtype="")
    assert "invalid workflow type 't\\x01'" in start_error(wtype="t\x01")
    for ns, args in (
        ("bad ns", ["workflow", "list"]),
        ("a/b", ["workflow", "describe", "-w", "x"]),
        ("", ["workflow", "start", *hello_args("n")]),
        ("-x", ["workflow", "execute", *hello_args("n")]),
        ("default/workflows?x=", ["workflow", "list"]),
    ):
        line = cli_error(*args, "--namespace", ns, address=a)
        assert f"invalid namespace {ns!r}" in line, line
    for ns in ("bad ns", "-x", "a" * 256):
        assert f"invalid namespace {ns!r}" in cli_error("namespace", "create", "--", ns, address=a)

    with httpx.Client(base_url=server.url) as http:
        for field, value, kind in (
            ("workflow_id", "", "workflow id"),
            ("workflow_id", "a\x00b", "workflow id"),
            ("task_queue", "\n", "task queue"),
            ("workflow_type", "", "workflow type"),
        ):
            message = api_error(http.post(WORKFLOWS, json=start_body("x", **{field: value})), 400, "invalid_argument")
            assert message.startswith(f"invalid request: field '{field}': invalid {kind} "), message
        message = api_error(http.post("/api/v1/namespaces/bad%20ns/workflows", json=start_body("x")), 400)
        assert message.startswith("invalid namespace 'bad ns'")
        message = api_error(http.get("/api/v1/namespaces/bad%20ns/workflows"), 400)
        assert message.startswith("invalid namespace 'bad ns'")
        message = api_error(http.post("/api/v1/namespaces", json={"name": "-bad"}), 400, "invalid_argument")
        assert message.startswith("invalid request: field 'name': invalid namespace '-bad'")
        message = api_error(
            http.post("/api/v1/namespaces/default/workers", json={"identity": "me", "task_queue": ""}), 400
        )
        assert message.startswith("invalid request: field 'task_queue': invalid task queue ''")
        # A valid name that does not exist is a 404 that says how to create it.
        message = api_error(http.post("/api/v1/namespaces/nope/workflows", json=start_body("x")), 404)
        assert "namespace 'nope' does not exist" in message and "mainspring namespace create nope" in message

    assert [n["name"] for n in ok_json("namespace", "list", address=a)] == ["default"]
    assert_intact(server, [])


# --- payloads over the limit --------------------------------------------------------------------------------


def test_payloads_over_the_configured_limit_are_refused(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "small.db", extra_args=["--max-payload-size", "1KiB"]).start()
    try:
        a = srv.address
        with worker(HELLO_WORKER, srv, tmp_path):
            big = json.dumps({"code": "python", "kind": "x" * 2000})
            line = cli_error("workflow", "start", *hello_args("big-1", input_=big), address=a)
            assert "the workflow input is 2," in line and "over the server's limit of 1,024 bytes" in line
            big_file = tmp_path / "big.json"
            big_file.write_text(big)
            args = ["--task-queue=hello-task-queue", "--type=sdk_example_workflow", "--workflow-id=big-2"]
            line = cli_error("workflow", "execute", *args, "--input-file", str(big_file), address=a)
            assert "over the server's limit of 1,024 bytes" in line
            with httpx.Client(base_url=srv.url) as http:
                message = api_error(
                    http.post(WORKFLOWS, json=start_body("big-3", input=json.loads(big))), 413, "payload_too_large"
                )
                assert "over the server's limit of 1,024 bytes" in message
                # A body far over the limit is refused before it is even parsed.
                huge = b'{"workflow_id": "big-4", "input": "' + b"x" * 200_000 + b'"}'
                assert "limited to 1,024 bytes" in api_error(
                    http.post(WORKFLOWS, content=huge, headers=_JSON), 413, "payload_too_large"
                )
            # Just under the limit is fine.
            under = json.dumps({"code": "python", "kind": "y" * 800})
            assert json.loads(ok("workflow", "execute", *hello_args("small-1", input_=under), address=a).stdout) == (
                EXPECTED
            )
            assert_intact(srv, ["small-1"])
    finally:
        srv.stop()


# --- a server that is not running ---------------------------------------------------------------------------


def test_a_server_that_is_not_running_gives_one_line_naming_the_address() -> None:
    dead = f"127.0.0.1:{free_port()}"
    commands: list[list[str]] = [
        ["workflow", "start", *hello_args("x")],
        ["workflow", "execute", *hello_args("x")],
        ["workflow", "result", "--workflow-id", "x"],
        ["workflow", "describe", "--workflow-id", "x"],
        ["workflow", "show", "--workflow-id", "x"],
        ["workflow", "list"],
        ["namespace", "list"],
        ["namespace", "create", "x"],
    ]
    for cmd in commands:
        line = cli_error(*cmd, "--address", dead, address=None)
        assert f"cannot reach the Mainspring server at {dead}" in line
        assert "mainspring server start-dev" in line
    assert dead in cli_error("workflow", "list", address=dead)  # from MAINSPRING_ADDRESS
    for bad in ("localhost:notaport", "localhost", "http://localhost:7233/some/path", "ftp://localhost:7233"):
        line = cli_error("workflow", "list", "--address", bad, address=None)
        assert f"invalid server address {bad!r}" in line and "HOST:PORT" in line


# --- malformed API requests ---------------------------------------------------------------------------------


def test_malformed_api_requests_get_400_naming_the_field(server: ServerProcess, hello_worker: WorkerProcess) -> None:
    ns = "/api/v1/namespaces/default"
    cases: list[tuple[str, str, Any, str]] = [
        # (method, path, body: bytes as they are, anything else as JSON, what the message must name)
        ("POST", WORKFLOWS, b"not json", "not valid JSON"),
        ("POST", WORKFLOWS, b"", "request body"),
        ("POST", WORKFLOWS, [1, 2], "request body"),
        ("POST", WORKFLOWS, {}, "field 'workflow_id'"),
        ("POST", WORKFLOWS, {"workflow_id": "x", "task_queue": "q"}, "field 'workflow_type'"),
        ("POST", WORKFLOWS, {"workflow_id": "x", "workflow_type": "t"}, "field 'task_queue'"),
        ("POST", WORKFLOWS, {"workflow_id": "x", "workflow_type": "t", "task_queue": 5}, "field 'task_queue'"),
        ("POST", WORKFLOWS, {"workflow_id": 7, "workflow_type": "t", "task_queue": "q"}, "field 'workflow_id'"),
        ("POST", WORKFLOWS, {**start_body("x"), "bogus": 1}, "field 'bogus'"),
        ("POST", "/api/v1/namespaces", {}, "field 'name'"),
        ("POST", f"{ns}/workers", {"task_queue": "q"}, "field 'identity'"),
        ("POST", f"{ns}/workflow-tasks/poll", {}, "field 'session_id'"),
        ("POST", f"{ns}/activity-tasks/poll", {"session_id": "s", "timeout": "soon"}, "field 'timeout'"),
        ("POST", f"{ns}/workflow-tasks/complete", {}, "field 'task_token'"),
        ("POST", f"{ns}/workflow-tasks/complete", {"task_token": "t", "commands": [{"type": "Nope"}]}, "commands"),
        ("POST", f"{ns}/workflow-tasks/fail", {"task_token": "t", "cause": "BAD", "failure": {}}, "field 'cause'"),
        ("POST", f"{ns}/activity-tasks/complete", {"result": 1}, "field 'task_token'"),
        ("POST", f"{ns}/activity-tasks/fail", {"task_token": "t"}, "field 'failure'"),
        ("GET", f"{WORKFLOWS}/describe", None, "'workflow_id' is required"),
        ("GET", f"{WORKFLOWS}/history?workflow_id=x&limit=many", None, "'limit' must be an integer"),
        ("GET", f"{WORKFLOWS}/result?workflow_id=x&wait=later", None, "'wait' must be a number"),
        ("GET", f"{WORKFLOWS}?limit=abc", None, "'limit' must be an integer"),
        ("GET", f"{WORKFLOWS}?status=SLEEPING", None, "unknown status 'SLEEPING'"),
        ("GET", f"{WORKFLOWS}?started_after=yesterday", None, "'started_after' must be a number"),
    ]
    with httpx.Client(base_url=server.url) as http:
        for method, path, body, named in cases:
            if body is None:
                r = http.request(method, path)
            elif isinstance(body, bytes):
                r = http.request(method, path, content=body, headers=_JSON)
            else:
                r = http.request(method, path, json=body)
            message = api_error(r, 400, "invalid_argument")
            assert named in message, f"{method} {path} {body!r}: {message}"
        # A token the server did not make names no task (see test_tokens.py).
        r = http.post(f"{ns}/workflow-tasks/complete", json={"task_token": "garbage"})
        assert "not issued by this server" in api_error(r, 404, "task_not_found")
    assert_intact(server, [])


def test_unknown_endpoints_and_things_get_404_json(server: ServerProcess, hello_worker: WorkerProcess) -> None:
    with httpx.Client(base_url=server.url) as http:
        for method, path in (
            ("GET", "/api/v1/nope"),
            ("GET", "/"),
            ("POST", "/api/v2/namespaces/default/workflows"),
            ("GET", "/api/v1/namespaces/default/workflows/nope"),
        ):
            message = api_error(http.request(method, path), 404, "not_found")
            assert f"no such endpoint: {method} {path}" in message and "/api/v1/openapi.json" in message
        message = api_error(http.delete("/api/v1/health"), 405, "method_not_allowed")
        assert "DELETE" in message
        for what in ("describe", "history", "result"):
            message = api_error(http.get(f"{WORKFLOWS}/{what}", params={"workflow_id": "ghost"}), 404, "not_found")
            assert message == "workflow 'ghost' not found in namespace 'default'"
        message = api_error(http.get(f"{WORKFLOWS}/describe", params={"workflow_id": "ghost", "run_id": "r"}), 404)
        assert "workflow 'ghost' run r not found" in message
        api_error(http.get("/api/v1/namespaces/nope/workflows"), 404, "namespace_not_found")
        api_error(
            http.post("/api/v1/namespaces/default/workflow-tasks/poll", json={"session_id": "gone", "timeout": 0.1}),
            404,
            "session_not_found",
        )
    assert "workflow 'ghost' not found" in cli_error("workflow", "describe", "-w", "ghost", address=server.address)
    assert_intact(server, [])


# --- the Python client ----------------------------------------------------------------------------------------


async def test_client_refuses_an_invalid_namespace(server: ServerProcess, client: Client) -> None:
    await client.start_workflow("sdk_example_workflow", {"code": "python", "kind": "t"}, id="x", task_queue="q")
    with pytest.raises(InvalidArgumentError, match="invalid namespace"):
        await Client.connect(server.address, namespace="default/workflows?x=")


async def test_client_refuses_a_malformed_address() -> None:
    with pytest.raises(MainspringError, match="notaport"):
        await Client.connect("localhost:notaport")
