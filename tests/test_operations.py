"""The operation table: each operation is declared once, and every surface is derived from it; domain
errors get their HTTP status at the edge, and their CLI wording in the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mainspring.cli._common import explain
from mainspring.errors import (
    AlreadyStartedError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ResourceExhaustedError,
    RPCError,
    ServerUnavailableError,
    WorkflowCodeError,
)
from mainspring.server import openapi_document
from mainspring.server._channel import CLIENT_OPERATIONS
from mainspring.server._channel import OPERATIONS as WORKER_OPERATIONS
from mainspring.server._errors import answer_for, http_status
from mainspring.server._operations import OPERATIONS
from mainspring.storage import StorageError

SRC = Path(__file__).resolve().parent.parent / "src" / "mainspring"
_NS = "/api/v1/namespaces/{namespace}"
_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def test_each_operation_is_declared_once_and_each_surface_is_derived_from_the_table() -> None:
    names = [op.name for op in OPERATIONS]
    assert len(names) == len(set(names))
    routes = [(op.http.method, op.http.path) for op in OPERATIONS if op.http is not None]
    assert len(routes) == len(set(routes))

    doc = openapi_document()
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    assert documented == set(routes)
    for op in OPERATIONS:
        if op.http is None:
            continue
        entry = doc["paths"][op.http.path][op.http.method.lower()]
        assert entry["operationId"] == (op.http.operation_id or op.name)
        assert entry["summary"] == op.summary and entry["tags"] == [op.tag]
        if op.answer is not None:  # every answer the API gives has its schema in the document
            ok = entry["responses"][str(op.http.status)]
            assert ok["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{op.answer.__name__}"}

    assert set(WORKER_OPERATIONS) == {op.name for op in OPERATIONS if op.worker}
    assert set(CLIENT_OPERATIONS) == {op.name for op in OPERATIONS if op.client}
    assert all(WORKER_OPERATIONS[name] is op for op in OPERATIONS if op.worker for name in [op.name])
    # The answers that were undocumented before the table: documented now.
    for name in ("health", "list_namespaces", "heartbeat_worker", "end_worker_session", "fail_activity_task"):
        assert next(op for op in OPERATIONS if op.name == name).answer is not None


def _calls(folder: str) -> list[tuple[str, str, list[str]]]:
    """(file, the called function's name, its leading string-literal arguments) for each call in ``folder``."""
    found = []
    for path in sorted((SRC / folder).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                literals = []
                for arg in node.args:
                    if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                        break
                    literals.append(arg.value)
                if literals:
                    found.append((path.name, node.func.attr, literals))
    return found


def test_the_sdk_and_the_worker_only_name_operations_the_server_offers() -> None:
    http = {(op.http.method, op.http.path) for op in OPERATIONS if op.http is not None}
    checked = 0
    for file, func, args in _calls("client") + _calls("worker"):
        if func in ("call", "_call") and args[0] in _METHODS and len(args) > 1:
            path = args[1] if args[1].startswith("/api/") else _NS + args[1]  # Client._call adds the namespace
            assert (args[0], path) in http, f"{file}: {args[0]} {path} is no route of the server"
        elif func == "_channel_call":
            assert args[0] in CLIENT_OPERATIONS, f"{file}: {args[0]!r} is not offered on the client channel"
        elif func in ("_poll", "_report") or (func == "call" and file == "_worker.py"):
            assert args[0] in WORKER_OPERATIONS, f"{file}: {args[0]!r} is not offered on the worker channel"
        elif func == "call" and file == "_channel.py":
            assert args[0] == "register"  # the worker channel's handshake
        else:
            continue
        checked += 1
    assert checked >= 15  # the scan sees the calls (it would pass vacuously if their shape changed)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidArgumentError("x", code="bad_command"), 400),
        (PermissionDeniedError("x", code="forbidden"), 403),
        (NotFoundError("x", code="task_not_found"), 404),
        (AlreadyStartedError("x", code="already_started"), 409),
        (PayloadTooLargeError("x", code="payload_too_large"), 413),
        (ResourceExhaustedError("x", code="overloaded", details={"retry_after": 2}), 429),
        (ServerUnavailableError("x", code="unavailable"), 503),
        # An error of no class the table knows keeps the status it came with (a worker's answer) ...
        (RPCError("x", status=501, code="error"), 501),
        # ... and without one it is the caller's (as before the table).
        (RPCError("x"), 400),
    ],
)
def test_a_domain_error_raised_without_a_status_is_answered_with_its_class_status(error: RPCError, status: int) -> None:
    assert error.status in (0, 501)  # the engine no longer needs to say it
    assert http_status(error) == status
    answer = answer_for(error)
    assert answer.status == status and answer.code == error.code and answer.message == "x"
    assert answer.channel_error()["status"] == status


def test_the_class_decides_over_a_status_the_error_carries() -> None:
    # The engine still passes status= today; once the lead strips them, nothing changes.
    assert http_status(NotFoundError("x", status=404, code="not_found")) == 404
    assert http_status(NotFoundError("x", status=400, code="not_found")) == 404


def test_a_storage_failure_is_answered_as_unavailable() -> None:
    answer = answer_for(StorageError("database or disk is full"))
    assert (answer.status, answer.code) == (503, "storage_unavailable")
    assert answer.body() == {"code": "storage_unavailable", "message": "database or disk is full"}


def test_the_cli_words_an_error_with_the_command_that_fixes_it() -> None:
    bare = NotFoundError("namespace 'sales' does not exist; known: default", code="namespace_not_found")
    assert explain(bare, "sales") == (
        "namespace 'sales' does not exist; known: default (create it with `mainspring namespace create sales`)",
        3,  # not found (see the README's CLI exit status)
    )
    # A server that says it already is not repeated.
    worded = NotFoundError(
        "namespace 'sales' does not exist (create it with `mainspring namespace create sales`)",
        code="namespace_not_found",
    )
    assert explain(worded, "sales") == (worded.message, 3)
    started = AlreadyStartedError("workflow 'a' is already running (run id r)", code="already_started")
    assert explain(started, "default")[0].endswith("(choose another --workflow-id or wait for that run to close)")
    assert explain(InvalidArgumentError("bad", code="invalid_argument"), "default") == ("bad", 2)
    assert explain(WorkflowCodeError("a bug"), "default") == ("a bug", 1)


def test_the_sdk_raises_the_class_the_server_answered_with() -> None:
    # The server picks a status by class; the SDK picks the class by status: the two tables must agree, so
    # what the SDK raises does not change when the engine stops passing status=.
    from mainspring.client._transport import rpc_error
    from mainspring.server._errors import _BY_CLASS

    for cls, status in _BY_CLASS:
        error = rpc_error(status, "x", "some_code")
        assert type(error) is cls, (cls, status)
        assert http_status(cls("x", code="some_code")) == status


def test_a_status_still_passed_in_the_server_agrees_with_the_edge_table() -> None:
    # Raise statements in the server may still say status= (they need not): where one does, it must be what
    # the edge answers, or the code would read as if it answered something it does not.
    import mainspring.errors as errors

    seen = 0
    for path in sorted((SRC / "server").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            cls = getattr(errors, node.func.id, None)
            if not (isinstance(cls, type) and issubclass(cls, RPCError) and cls is not RPCError):
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            status, code = keywords.get("status"), keywords.get("code")
            if isinstance(status, ast.Constant) and isinstance(code, ast.Constant):
                assert http_status(cls("x", code=code.value)) == status.value, f"{path.name}:{node.lineno}"
                seen += 1
    print(f"{seen} raise statements still pass status=")  # none once the engine drops them
