"""What an attacker tried against a real server after the hostile-input work, and got through.

Each test here failed on the code before its fix: a workflow input that stalled the server's event loop
for minutes (the JSON schema check ran backtracking regexes and compared objects pairwise), a schema the
check could not resolve that made every start a 500, and channel or HTTP peers that left tracebacks in
the log or made the server buffer without bound.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from support import ServerProcess, WorkerProcess, wait_until

WORKERS = Path(__file__).resolve().parent / "workers"

NS = "/api/v1/namespaces/default"


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    # The answers must come: on the code before the fixes some of these requests took hours.
    with httpx.Client(base_url=server.url + NS, timeout=60) as c:
        yield c


def _announce(http: httpx.Client, task_queue: str, schema: Any) -> httpx.Response:
    return http.post(
        "/workers",
        json={"identity": "w", "task_queue": task_queue, "workflow_types": [{"name": "wf", "input_schema": schema}]},
    )


def _start(http: httpx.Client, task_queue: str, value: Any) -> httpx.Response:
    return http.post(
        "/workflows",
        json={"workflow_id": uuid.uuid4().hex, "workflow_type": "wf", "task_queue": task_queue, "input": value},
    )


def test_a_schema_announced_again_gets_the_same_answer(server: ServerProcess, http: httpx.Client) -> None:
    # The check of an announced schema is remembered per schema (each registration repeated it, ~2 ms
    # of the event loop a workflow type): the second announcement must get the first one's answer.
    bad = {"type": "strin"}
    # Nested past what the schema check (and the client's JSON encoder) can recurse into: sent as text.
    deep = '{"items":' * 3000 + "{}" + "}" * 3000
    for _ in range(2):
        r = _announce(http, uuid.uuid4().hex, bad)
        assert r.status_code == 400 and "it is not a valid JSON schema" in r.json()["message"], r.text
        types = f'[{{"name": "wf", "input_schema": {deep}}}]'
        body = f'{{"identity": "w", "task_queue": "{uuid.uuid4().hex}", "workflow_types": {types}}}'
        r = http.post("/workers", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["code"] != "internal", r.text
        assert _announce(http, uuid.uuid4().hex, {"type": "integer"}).status_code == 201


def test_no_input_makes_the_schema_check_slow(server: ServerProcess, http: httpx.Client) -> None:
    # What pydantic announces for ``set[int]``, ``Optional[list[int]]`` and a constrained string: the
    # schemas of ordinary workflows. Before, a list of 30,000 objects held the server for minutes (the
    # items compared pairwise), half a million strings made half a million errors, and a 35-character
    # string never finished matching a backtracking pattern.
    for schema, value, named in (
        (
            {"type": "array", "uniqueItems": True, "items": {"type": "integer"}},
            [{"a": i} for i in range(30_000)],
            "an integer",
        ),
        ({"type": "array", "uniqueItems": True}, [{"a": 1}, {"a": 1.0}], "non-unique"),
        (
            {"anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}]},
            ["x"] * 400_000,
            "must be an integer",
        ),
        ({"type": "string", "pattern": "^(a+)+$"}, "a" * 34 + "!", "does not match"),
        (
            {"type": "object", "patternProperties": {"^(a+)+$": {}}, "additionalProperties": False},
            {"a" * 34 + "!": 1},
            "not allowed",
        ),
    ):
        queue = uuid.uuid4().hex
        assert _announce(http, queue, schema).status_code == 201
        r = _start(http, queue, value)
        assert r.status_code == 400, r.text
        message = r.json()["message"]
        assert named in message and len(message) < 1000, message
        assert http.get("/workflows").status_code == 200
    # A pattern matches where it should; one the linear-time engine cannot run is left to the worker.
    queue = uuid.uuid4().hex
    assert _announce(http, queue, {"type": "string", "pattern": "^(a+)+$"}).status_code == 201
    assert _start(http, queue, "aaa").status_code == 201
    queue = uuid.uuid4().hex
    assert _announce(http, queue, {"type": "string", "pattern": "^(?=a)"}).status_code == 201
    assert _start(http, queue, "b").status_code == 201
    # A worker's schema is its input too: checking it is as bounded (pairwise before: minutes).
    r = _announce(http, uuid.uuid4().hex, {"type": [{"a": i} for i in range(30_000)]})
    assert r.status_code == 400 and len(r.json()["message"]) < 1000, r.text
    assert "Traceback" not in server.log()


def test_a_schema_the_server_cannot_resolve_is_left_to_the_worker(server: ServerProcess, http: httpx.Client) -> None:
    # Every start of such a workflow was a 500 (the error handler named an exception jsonschema lacks).
    for schema in ({"$ref": "#/nope"}, {"$ref": "https://example.com/schema.json"}, {"$ref": "#"}):
        queue = uuid.uuid4().hex
        assert _announce(http, queue, schema).status_code == 201
        r = _start(http, queue, 1)
        assert r.status_code == 201, r.text
    assert "Traceback" not in server.log()


def _register(ws: Any, task_queue: str) -> None:
    ws.send(json.dumps({"i": 1, "op": "register", "b": {"identity": "hand", "task_queue": task_queue}}))
    assert "ok" in json.loads(ws.recv(timeout=10))


def test_a_message_id_that_is_not_a_scalar_is_a_protocol_error(server: ServerProcess) -> None:
    # An unhashable "q" raised a traceback and dropped the connection without a close frame; an "i"
    # nested 1,000 deep got no answer at all (it could not be written back).
    for path, first in (("workers", True), ("clients", False)):
        for frame in ('{"q": [1], "ok": 1}', '{"q": {"a": 1}, "ok": 1}', '{"i": ' + "[" * 1000 + "]" * 1000 + "}"):
            with connect(f"ws://{server.address}{NS}/{path}/connect", max_size=None) as ws:
                if first:
                    _register(ws, "ids")
                ws.send(frame)
                answer = json.loads(ws.recv(timeout=10))
                assert answer["err"]["code"] == "protocol_error" and "id" in answer["err"]["message"], answer
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003
    assert "Traceback" not in server.log()


def test_a_worker_that_answers_a_stack_request_with_nonsense_is_survived(
    server: ServerProcess, http: httpx.Client
) -> None:
    queue = uuid.uuid4().hex
    with connect(f"ws://{server.address}{NS}/workers/connect", max_size=None) as ws:
        _register(ws, queue)
        assert http.post(
            "/workflows", json={"workflow_id": "st", "workflow_type": "wf", "task_queue": queue}
        ).is_success
        ws.send(json.dumps({"i": 2, "op": "poll_workflow_task", "b": {"timeout": 10}}))
        token = json.loads(ws.recv(timeout=10))["ok"]["task_token"]
        timer = {"type": "StartTimer", "timer_id": "t", "duration": 3600}
        ws.send(json.dumps({"i": 3, "op": "complete_workflow_task", "b": {"task_token": token, "commands": [timer]}}))
        assert "ok" in json.loads(ws.recv(timeout=10))
        # The worker keeps the run cached, so the server asks it where the run waits; it answers with a
        # status that is not a number (this raised a traceback and dropped the worker's connection).
        with ThreadPoolExecutor(1) as pool:
            asked = pool.submit(http.get, "/workflows/stack", params={"workflow_id": "st"})
            request = json.loads(ws.recv(timeout=10))
            assert request["op"] == "stack"
            ws.send(json.dumps({"q": request["q"], "err": {"status": "teapot", "message": "no"}}))
            r = asked.result(timeout=30)
        assert r.status_code == 200 and "could not answer" in r.json()["message"], r.text
        ws.send(json.dumps({"i": 4, "op": "poll_workflow_task", "b": {"timeout": 0}}))
        assert json.loads(ws.recv(timeout=10)) == {"i": 4, "ok": None}  # still connected
    assert "Traceback" not in server.log()


def test_a_caller_that_goes_away_in_the_middle_of_its_body_leaves_no_traceback(server: ServerProcess) -> None:
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(
                b"POST /api/v1/namespaces/default/workflows HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"workflow_id": '
            )
    # The server read each half body and saw its caller leave.
    wait_until(lambda: httpx.get(server.url + "/api/v1/health").status_code == 200)
    with httpx.Client(base_url=server.url + NS) as http:
        assert http.get("/workflows").json()["executions"] == []
        assert _start(http, "q", 1).status_code == 201
    assert "Traceback" not in server.log() and "ClientDisconnect" not in server.log()


def _raw_websocket(server: ServerProcess, path: str) -> socket.socket:
    """A WebSocket opened by hand, so the test can write frames and never read the answers."""
    s = socket.create_connection(("127.0.0.1", server.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def _text_frame(data: bytes) -> bytes:
    # A client frame must be masked; with a mask of zeros the payload goes as it is.
    return b"\x81\xff" + struct.pack(">Q", len(data)) + b"\x00\x00\x00\x00" + data


def test_a_peer_that_never_reads_its_answers_cannot_make_the_server_hold_them(server: ServerProcess) -> None:
    # Each request's id is echoed in its answer: 7 MB in, 7 MB out. Before, the server read request after
    # request and kept every answer it could not send: 100 of them took it from 60 MB to 800 MB.
    assert server.proc is not None
    process = psutil.Process(server.proc.pid)
    before = process.memory_info().rss
    frame = _text_frame(b'{"i": "' + b"x" * (7 * 1024 * 1024) + b'", "op": "nope"}')
    with _raw_websocket(server, NS + "/clients/connect") as s:
        s.settimeout(5)
        sent = 0
        with contextlib.suppress(OSError):  # the server stops reading: the sends block, then time out
            for _ in range(100):
                s.sendall(frame)
                sent += 1
        grown = process.memory_info().rss - before
        assert grown < 300 * 1024 * 1024, (sent, grown)
        assert httpx.get(server.url + "/api/v1/health", timeout=10).status_code == 200
    assert "Traceback" not in server.log()


def test_a_request_head_is_bounded(server: ServerProcess) -> None:
    # uvicorn kept a request's headers until they ended: four connections sending 100 MB of them took the
    # server to 420 MB, before any check of ours could see the request.
    assert server.proc is not None
    process = psutil.Process(server.proc.pid)
    before = process.memory_info().rss
    header = b"X-Filler: " + b"a" * (1024 * 1024) + b"\r\n"
    answers = []
    for _ in range(4):
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.settimeout(10)
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            with contextlib.suppress(OSError):  # refused as soon as the head is too long
                for _ in range(30):
                    s.sendall(header)
            with contextlib.suppress(OSError):
                answers.append(s.recv(1000))
    assert process.memory_info().rss - before < 50 * 1024 * 1024
    assert any(a.startswith(b"HTTP/1.1 431 ") and b"headers_too_large" in a for a in answers), answers
    # An ordinary request, with a few KiB of headers, is served.
    r = httpx.get(server.url + "/api/v1/health", headers={"x-big": "b" * 8000, "cookie": "c=" + "d" * 8000})
    assert r.status_code == 200


def test_an_exception_chained_hundreds_deep_is_reported_with_its_first_causes(
    server: ServerProcess, tmp_path: Path
) -> None:
    # An activity whose exception had 250 causes was refused by the server (nested over 200 levels), one
    # with 1,000 made a 3 MB failure (each cause's stack repeated the whole chain), and a few hundred were
    # too deep for the worker to encode at all: the attempt then waited out its (here 120 s) timeout.
    worker = WorkerProcess(WORKERS / "deep_failure_worker.py", server.address, log_path=tmp_path / "w.log").start()
    try:
        with httpx.Client(base_url=server.url + NS, timeout=60) as http:
            for depth in (150, 250, 1000):
                wid = f"deep-{depth}"
                body = {"workflow_id": wid, "workflow_type": "deep_failure_workflow", "input": depth}
                assert http.post("/workflows", json={**body, "task_queue": "deep-failure-queue"}).is_success
                r = http.get("/workflows/result", params={"workflow_id": wid, "wait": 30})
                assert r.json()["status"] == "FAILED", r.text
                failure = r.json()["failure"]
                causes = []
                while failure is not None:
                    causes.append(failure["message"])
                    failure = failure.get("cause")
                assert causes[1] == f"level {depth}" and "not recorded" in causes[-1], causes
        assert "Traceback" not in worker.log()
    finally:
        worker.stop()


def test_a_frame_over_the_limit_is_always_refused_with_a_close_frame(server: ServerProcess) -> None:
    # The server wrote its close frame (1009) and closed the socket with the rest of the frame unread: the
    # kernel's reset then often destroyed the close frame, and the peer saw the connection just drop.
    for path in ("workers", "clients") * 4:
        with connect(f"ws://{server.address}{NS}/{path}/connect", max_size=None) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                ws.send("x" * (20 * 1024 * 1024))
                ws.recv(timeout=20)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009, closed.value
    assert httpx.get(server.url + "/api/v1/health").status_code == 200
    assert "Traceback" not in server.log()


@contextlib.contextmanager
def _server_in_a_thread(tmp_path: Path, **config: Any) -> Iterator[str]:
    """A real server (real sockets, a real SQLite file) on an event loop of its own thread, for settings
    the command line does not offer; its address."""
    import asyncio
    import threading
    from datetime import timedelta

    from mainspring.server import Server, ServerConfig

    ready = threading.Event()
    held: dict[str, Any] = {}

    def run() -> None:
        async def main() -> None:
            settings = {k: timedelta(seconds=v) if k.endswith("timeout") else v for k, v in config.items()}
            srv = Server(ServerConfig(db=str(tmp_path / "thread.db"), port=0, ui_port=None, **settings))
            await srv.start()
            held.update(server=srv, loop=asyncio.get_running_loop())
            ready.set()
            await srv.serve()

        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(30), "the server did not start"
    try:
        yield held["server"].address
    finally:
        held["loop"].call_soon_threadsafe(held["server"].stop)
        thread.join(30)


def _read_all(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_a_request_that_arrives_a_byte_at_a_time_is_not_waited_for_forever(tmp_path: Path) -> None:
    """Slowloris: connections that send their request slowly held the server's file descriptors until
    it ran out. A head must arrive within request_head_timeout (408), a body within request_body_timeout
    of its head; a WebSocket that was upgraded, and a long-poll, are not cut by either."""
    with _server_in_a_thread(tmp_path, request_head_timeout=0.5, request_body_timeout=1.0) as address:
        host, port = address.rsplit(":", 1)
        with socket.create_connection((host, int(port))) as slow_head:
            slow_head.sendall(f"GET /api/v1/health HTTP/1.1\r\nHost: {address}\r\n".encode())
            answer = _read_all(slow_head, 10)
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["code"] == "request_timeout"
        with socket.create_connection((host, int(port))) as idle:  # not even a first byte
            assert _read_all(idle, 10).startswith(b"HTTP/1.1 408 ")
        with socket.create_connection((host, int(port))) as slow_body:
            slow_body.sendall(
                f"POST {NS}/workflows HTTP/1.1\r\nHost: {address}\r\ncontent-type: application/json\r\n"
                'content-length: 100\r\n\r\n{"work'.encode()
            )
            assert _read_all(slow_body, 10) == b""  # closed, the request never reached the engine
        url = f"ws://{address}{NS}/workers/connect"
        with connect(url) as ws, httpx.Client(base_url=f"http://{address}{NS}", timeout=30) as http:
            ws.send(json.dumps({"i": 1, "op": "register", "b": {"identity": "w", "task_queue": "slow"}}))
            assert "ok" in json.loads(ws.recv(timeout=10))
            # A long-poll held past both timeouts is answered as usual.
            session = http.post("/workers", json={"identity": "h", "task_queue": "slow"}).json()["session_id"]
            r = http.post("/workflow-tasks/poll", json={"session_id": session, "timeout": 2.0})
            assert r.status_code == 204, r.text
            ws.send(json.dumps({"i": 2, "op": "poll_activity_task", "b": {"timeout": 2.5}}))
            assert json.loads(ws.recv(timeout=10)) == {"i": 2, "ok": None}
            # Still open, past both timeouts.
            ws.send(json.dumps({"i": 3, "op": "poll_activity_task", "b": {"timeout": 0.1}}))
            assert json.loads(ws.recv(timeout=10)) == {"i": 3, "ok": None}
            assert httpx.get(f"http://{address}/api/v1/health").status_code == 200
