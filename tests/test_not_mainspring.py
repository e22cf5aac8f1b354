"""Clients meeting something that is not a Mainspring server at their address (Temporal's dev server holds
7233 too): the CLI, the SDK's client and a worker each say so in one clear line, and never show a parser's
traceback or retry forever.

The "servers" here are real sockets in the test: one answers as an HTTP/2 (gRPC) server does to an HTTP/1.1
request (a SETTINGS frame, then GOAWAY), one sends bytes of some other protocol, and one is a plain web
server answering 200 with a page.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mainspring import Client, ServerUnavailableError
from support import EXAMPLES, WorkerProcess, run_cli, wait_until

#: What Temporal's gRPC server sends an HTTP/1.1 client: its SETTINGS frame, then GOAWAY (HTTP/2 frames on
#: stream 0), then it closes the connection.
HTTP2_ANSWER = (
    b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x05\x00\x00\x40\x00"
    b"\x00\x00\x08\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
)
#: Another protocol altogether.
OTHER_ANSWER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"

NOT_MAINSPRING = "something that is not a Mainspring server answers at 127.0.0.1:{port}"
HTTP2_HINT = "(it looks like HTTP/2 or gRPC: is Temporal's dev server running there?)"


class _RawHandler(socketserver.BaseRequestHandler):
    answer = b""

    def handle(self) -> None:
        self.request.settimeout(5)
        with contextlib.suppress(OSError):
            self.request.recv(65536)
            self.request.sendall(self.answer)


class _PageHandler(http.server.BaseHTTPRequestHandler):
    def _page(self) -> None:
        body = b"<html><body><h1>It works!</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _page

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(kind: str) -> Iterator[int]:
    """A server of ``kind`` ("http2", "other" or "page") on a free port, for the block; its port."""
    server: socketserver.TCPServer
    if kind == "page":
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    else:
        handler = type("Handler", (_RawHandler,), {"answer": HTTP2_ANSWER if kind == "http2" else OTHER_ANSWER})
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def expected(kind: str, port: int) -> str:
    return NOT_MAINSPRING.format(port=port) + (" " + HTTP2_HINT if kind == "http2" else "")


KINDS = ["http2", "other", "page"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_cli_says_what_answers_instead_in_one_line(kind: str) -> None:
    with serving(kind) as port:
        address = f"127.0.0.1:{port}"
        commands = [
            ["workflow", "list"],
            ["workflow", "describe", "--workflow-id", "w"],
            ["workflow", "start", "--task-queue", "q", "--type", "t", "--workflow-id", "w"],
            ["workflow", "result", "--workflow-id", "w"],
        ]
        for cmd in commands:
            r = run_cli(*cmd, address=address, timeout=30)
            assert r.returncode == 4, (cmd, r.returncode, r.stderr)
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1, (cmd, r.stderr)
            assert lines[0].startswith("Error: " + expected(kind, port)), (cmd, lines[0])
            if kind != "http2":
                assert "HTTP/2" not in lines[0]
            assert r.stdout == ""

        r = run_cli("workflow", "list", "-o", "json", address=address, timeout=30)
        assert r.returncode == 4
        error = json.loads(r.stderr)
        assert error["code"] == "not_mainspring" and error["message"].startswith(expected(kind, port))


@pytest.mark.parametrize("kind", KINDS)
async def test_the_sdk_raises_a_domain_error_that_says_so(kind: str) -> None:
    with serving(kind) as port:
        for channel in (True, False):
            async with await Client.connect(f"127.0.0.1:{port}", channel=channel) as client:
                calls = [
                    client.list_workflows(),
                    client.start_workflow("t", None, id="w", task_queue="q"),
                    client.get_workflow_handle("w").describe(),
                    client.get_workflow_handle("w").result(timeout=5),
                ]
                for call in calls:
                    with pytest.raises(ServerUnavailableError) as info:
                        await call
                    assert info.value.code == "not_mainspring"
                    assert str(info.value).startswith(expected(kind, port))


@pytest.mark.parametrize("kind", ["http2", "page"])
def test_a_worker_stops_with_one_clear_line(kind: str, tmp_path: Path) -> None:
    with serving(kind) as port:
        w = WorkerProcess(EXAMPLES / "hello" / "worker.py", f"127.0.0.1:{port}", log_path=tmp_path / "worker.log")
        w.start(wait_ready=False)
        assert w.proc is not None
        wait_until(lambda: w.proc is not None and w.proc.poll() is not None, 30, what="the worker to stop")
        log = w.log()
        assert w.proc.returncode != 0, log
        errors = [line for line in log.splitlines() if " ERROR mainspring.worker: " in line]
        assert len(errors) == 1, log
        assert expected(kind, port) in errors[0] and "the worker stops" in errors[0]
        # It stopped at once: no retries, and nothing of the HTTP parser's or a leaked session.
        for noise in ("retrying", "BadStatusLine", "Bad status line", "aiohttp", "Unclosed client session"):
            assert noise not in log, log
