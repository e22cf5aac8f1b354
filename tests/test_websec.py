"""A web page cannot drive the server: Host, Origin and Content-Type checks on both ports, the WebSockets
included, and a strict Content-Security-Policy on what the server sends.

Against a real server process: first with plain HTTP and WebSocket clients, naming the headers a browser
would send; then with a real headless Chromium that opens an attacker's page, served from another origin
(another port of 127.0.0.1), which tries what such a page can: no-cors POSTs, a form post, WebSockets to
the client and the worker channels, framing the UI. The UI and the API reference must still work under
the Content-Security-Policy, with not one violation reported.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from mainspring import Client, Worker, workflow
from mainspring.errors import PermissionDeniedError
from support import EXAMPLES, ServerProcess, WorkerProcess, chromium, free_port, run_cli, wait_until

pytestmark = pytest.mark.slow

NS = "/api/v1/namespaces/default"
EVIL = "http://evil.test"
HELLO_INPUT = {"code": "python", "kind": "typesafe"}

expect.set_options(timeout=15_000)


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with default settings (and the hello worker, which must still connect), for the module."""
    tmp = tmp_path_factory.mktemp("websec")
    server = ServerProcess(tmp / "mainspring.db").start()
    worker = WorkerProcess(EXAMPLES / "hello" / "worker.py", server.address, log_path=tmp / "hello.log")
    try:
        worker.start()
        yield server
    finally:
        worker.stop(timeout=10)
        server.stop()


@pytest.fixture(scope="module")
def flagged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server started with an allowed origin and allowed hosts."""
    tmp = tmp_path_factory.mktemp("websec-flags")
    server = ServerProcess(
        tmp / "mainspring.db",
        extra_args=[
            "--allowed-origin",
            "http://example.test",
            "--allowed-host",
            "example.test",
            "--allowed-host",
            "proxy.test:8080",
        ],
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


class _Pages(http.server.BaseHTTPRequestHandler):
    """Serves the attacker's pages (set on the server object) from memory."""

    def do_GET(self) -> None:
        pages: dict[str, str] = self.server.pages  # type: ignore[attr-defined]
        body = pages.get(self.path.split("?", 1)[0])
        if body is None:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def attacker() -> Iterator[tuple[str, dict[str, str]]]:
    """Another origin on this machine (its own port): its URL, and the pages it serves (path -> HTML)."""
    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    pages: dict[str, str] = {}
    site.pages = pages  # type: ignore[attr-defined]
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}", pages
    finally:
        site.shutdown()
        site.server_close()
        thread.join(5)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context; every Content-Security-Policy violation is recorded in window.__csp."""
    context = browser.new_context()
    # Init scripts are added by the browser's debugging protocol, not by the page, so the CSP allows them.
    context.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation', "
        "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


# --- helpers --------------------------------------------------------------------------------------------


def start_body(workflow_id: str, task_queue: str = "idle-q", workflow_type: str = "idle") -> dict[str, Any]:
    return {"workflow_id": workflow_id, "workflow_type": workflow_type, "task_queue": task_queue, "input": None}


def start(server: ServerProcess, workflow_id: str, task_queue: str = "idle-q") -> None:
    r = httpx.post(server.url + NS + "/workflows", json=start_body(workflow_id, task_queue), timeout=10)
    assert r.status_code == 201, r.text


def describe(server: ServerProcess, workflow_id: str) -> httpx.Response:
    return httpx.get(server.url + NS + "/workflows/describe", params={"workflow_id": workflow_id}, timeout=10)


def status_of(server: ServerProcess, workflow_id: str) -> str:
    r = describe(server, workflow_id)
    assert r.status_code == 200, r.text
    return str(r.json()["execution"]["status"])


def not_started(server: ServerProcess, workflow_id: str) -> bool:
    return describe(server, workflow_id).status_code == 404


def workers_on(server: ServerProcess, task_queue: str) -> list[str]:
    r = httpx.get(server.url + NS + "/task-queues", params={"name": task_queue}, timeout=10)
    assert r.status_code == 200, r.text
    return [w["identity"] for q in r.json()["task_queues"] for w in q["workers"]]


def refused(r: httpx.Response, status: int, code: str) -> str:
    """The message of a refusal with this status and code (and no CORS grant)."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert body["code"] == code, body
    assert "access-control-allow-origin" not in r.headers
    return str(body["message"])


def ws_url(base: str, channel: str) -> str:
    return base.replace("http://", "ws://") + f"{NS}/{channel}/connect"


def call(ws: ClientConnection, i: int, op: str, body: Any) -> Any:
    ws.send(json.dumps({"i": i, "op": op, "b": body}))
    answer = json.loads(ws.recv(timeout=10))
    return answer[0] if isinstance(answer, list) else answer


# --- plain HTTP -----------------------------------------------------------------------------------------


def test_a_body_that_is_not_declared_json_is_refused_with_415_and_does_nothing(srv: ServerProcess) -> None:
    start(srv, "ct-victim")
    body = json.dumps(start_body("ct-plain")).encode()
    with httpx.Client(base_url=srv.url + NS, timeout=10) as http:
        for headers in ({"content-type": "text/plain"}, {"content-type": "text/plain;charset=UTF-8"}, {}):
            message = refused(http.post("/workflows", content=body, headers=headers), 415, "unsupported_media_type")
            assert "send Content-Type: application/json" in message
        # A form post, the way a page's <form> sends one, urlencoded and multipart.
        refused(http.post("/workflows", data={"workflow_id": "ct-form"}), 415, "unsupported_media_type")
        refused(http.post("/workflows", files={"f": ("x.json", body)}), 415, "unsupported_media_type")
        # A form with no fields still declares its type.
        empty_form = {"content-type": "application/x-www-form-urlencoded"}
        refused(http.post("/workflows", content=b"", headers=empty_form), 415, "unsupported_media_type")
        terminate = json.dumps({"workflow_id": "ct-victim", "reason": "pwned"}).encode()
        r = http.post("/workflows/terminate", content=terminate, headers={"content-type": "text/plain"})
        refused(r, 415, "unsupported_media_type")
        # The same body declared JSON (with a charset) is fine.
        r = http.post("/workflows", content=body, headers={"content-type": "application/json; charset=utf-8"})
        assert r.status_code == 201, r.text
    assert status_of(srv, "ct-victim") == "RUNNING"
    assert not_started(srv, "ct-form")
    assert status_of(srv, "ct-plain") == "RUNNING"  # started once, by the request declared JSON


def test_a_foreign_origin_is_refused_and_the_servers_own_are_not(srv: ServerProcess) -> None:
    start(srv, "origin-victim")
    api, ui = srv.url, srv.ui_url
    elsewhere = f"http://127.0.0.1:{free_port()}"  # another server on this machine is another origin
    for base in (api, ui):
        for origin in (EVIL, "null", elsewhere, f"https://127.0.0.1:{srv.ui_port}", EVIL + ":" + str(srv.port)):
            h = {"origin": origin}
            r = httpx.post(base + NS + "/workflows/terminate", json={"workflow_id": "origin-victim"}, headers=h)
            message = refused(r, 403, "forbidden_origin")
            assert (origin == "null") or f"--allowed-origin {origin}" in message, message
            r = httpx.post(base + NS + "/workflows", json=start_body("origin-started"), headers=h)
            refused(r, 403, "forbidden_origin")
            r = httpx.get(base + NS + "/workflows/describe", params={"workflow_id": "origin-victim"}, headers=h)
            refused(r, 403, "forbidden_origin")
    assert status_of(srv, "origin-victim") == "RUNNING"
    assert not_started(srv, "origin-started")

    # The server's own origins: the UI's and the API's, under the names it answers to; and no Origin at all.
    own = [f"http://127.0.0.1:{srv.ui_port}", f"http://localhost:{srv.ui_port}", f"http://localhost:{srv.port}"]
    for n, origin in enumerate(own):
        for m, base in enumerate((api, ui)):
            r = httpx.post(base + NS + "/workflows", json=start_body(f"own-{n}-{m}"), headers={"origin": origin})
            assert r.status_code == 201, r.text
            assert r.headers["access-control-allow-origin"] == origin
    r = httpx.post(ui + NS + "/workflows", json=start_body("no-origin"))
    assert r.status_code == 201, r.text
    assert "access-control-allow-origin" not in r.headers


def test_a_foreign_host_is_refused_so_dns_rebinding_reads_nothing(srv: ServerProcess) -> None:
    start(srv, "host-victim")
    for base, port in ((srv.url, srv.port), (srv.ui_url, srv.ui_port)):
        for host in (f"rebind.test:{port}", "rebind.test", f"localhost:{free_port()}", f"192.0.2.1:{port}"):
            h = {"host": host}
            message = refused(httpx.get(base + NS + "/workflows", headers=h), 403, "forbidden_host")
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
            assert f"--allowed-host {name}" in message, message
            refused(
                httpx.post(base + NS + "/workflows", json=start_body("host-started"), headers=h), 403, "forbidden_host"
            )
        # The UI's page and scripts too: a rebound page could read them and then call the API.
        refused(
            httpx.get(srv.ui_url + "/namespaces/default/workflows", headers={"host": "rebind.test"}),
            403,
            "forbidden_host",
        )
        # The names and addresses of the server, with one of its ports or none.
        for host in (
            f"localhost:{port}",
            f"127.0.0.1:{port}",
            "127.0.0.1",
            f"[::1]:{port}",
            f"localhost:{srv.ui_port}",
        ):
            r = httpx.get(
                base + NS + "/workflows/describe", params={"workflow_id": "host-victim"}, headers={"host": host}
            )
            assert r.status_code == 200, (host, r.text)
    assert not_started(srv, "host-started")


def test_bound_to_every_interface_the_machines_addresses_and_name_are_its_own(
    srv: ServerProcess, tmp_path: Path
) -> None:
    hostname = socket.gethostname()
    server = ServerProcess(tmp_path / "any.db", extra_args=["--ip", "0.0.0.0"]).start()
    try:
        # A browser on the LAN uses the address the machine has there; 127.0.0.2 is another address of
        # this machine, and a connection to it arrives at it, like one to a LAN address.
        for port in (server.port, server.ui_port):
            r = httpx.get(f"http://127.0.0.2:{port}{NS}/workflows", timeout=10)
            assert r.status_code == 200, r.text
        own = f"http://127.0.0.2:{server.ui_port}"
        r = httpx.post(f"{own}{NS}/workflows", json=start_body("lan-start"), headers={"origin": own}, timeout=10)
        assert r.status_code == 201, r.text
        r = httpx.get(server.url + NS + "/workflows", headers={"host": f"{hostname}:{server.port}"}, timeout=10)
        assert r.status_code == 200, r.text
        refused(
            httpx.get(f"http://127.0.0.2:{server.port}{NS}/workflows", headers={"host": "rebind.test"}),
            403,
            "forbidden_host",
        )
    finally:
        server.stop()
    # Bound to loopback only, the machine's name is not one the server answers to.
    if hostname.lower() not in ("localhost", "127.0.0.1"):
        refused(httpx.get(srv.url + NS + "/workflows", headers={"host": hostname}), 403, "forbidden_host")


def test_allowed_origin_and_allowed_host_options(flagged: ServerProcess) -> None:
    srv = flagged
    with httpx.Client(base_url=srv.url + NS, timeout=10) as http:
        r = http.post("/workflows", json=start_body("flag-origin"), headers={"origin": "http://example.test"})
        assert r.status_code == 201, r.text
        assert r.headers["access-control-allow-origin"] == "http://example.test"
        # An allowed origin is that origin only: another port or scheme is another origin.
        for origin in ("http://example.test:8080", "https://example.test", EVIL):
            refused(
                http.post("/workflows", json=start_body("flag-x"), headers={"origin": origin}), 403, "forbidden_origin"
            )
        # An allowed host, on the server's ports (or none), and the server's pages under that name.
        for host in (f"example.test:{srv.port}", "example.test", "proxy.test:8080"):
            assert http.get("/workflows", headers={"host": host}).status_code == 200, host
        r = http.post(
            "/workflows",
            json=start_body("flag-own"),
            headers={"host": "example.test", "origin": f"http://example.test:{srv.ui_port}"},
        )
        assert r.status_code == 201, r.text
        # NAME:PORT allows that name at that port only.
        for host in (f"proxy.test:{srv.port}", "proxy.test", "rebind.test"):
            refused(http.get("/workflows", headers={"host": host}), 403, "forbidden_host")
    assert not_started(srv, "flag-x")


def test_malformed_allowed_origins_and_hosts_are_refused_by_the_cli(tmp_path: Path) -> None:
    common = ["server", "start-dev", "--port", "0", "--ui-port", "0", "-f", str(tmp_path / "never.db")]
    for flag, value, says in (
        ("--allowed-origin", "http://example.test/", "no path"),
        ("--allowed-origin", "http://example.test/app", "scheme://host[:port]"),
        ("--allowed-origin", "example.test", "scheme://host[:port]"),
        ("--allowed-origin", "ftp://example.test", "scheme://host[:port]"),
        ("--allowed-origin", "null", "sandboxed"),
        ("--allowed-host", "http://example.test", "not a URL"),
        ("--allowed-host", "exa mple.test", "host name"),
        ("--allowed-host", "example.test:http", "host name"),
    ):
        r = run_cli(*common, flag, value, timeout=30)
        assert r.returncode == 2, (flag, value, r.stdout, r.stderr)
        assert flag in r.stderr and says in r.stderr, r.stderr
    assert not (tmp_path / "never.db").exists()


def test_options_answers_allow_and_grants_no_foreign_origin(srv: ServerProcess) -> None:
    with httpx.Client(base_url=srv.url, timeout=10) as http:
        r = http.options(NS + "/workflows")
        assert r.status_code == 204, r.text
        assert r.headers["allow"] == "GET, HEAD, POST, OPTIONS"
        assert "access-control-allow-origin" not in r.headers
        assert http.options(NS + "/workers/some-session").headers["allow"] == "DELETE, OPTIONS"
        assert http.options("/api/v1/health").headers["allow"] == "GET, HEAD, OPTIONS"
        message = refused(http.options("/api/v1/nope"), 404, "not_found")
        assert "OPTIONS /api/v1/nope" in message
        # A foreign page's preflight gets nothing that lets it go on.
        preflight = {
            "origin": EVIL,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type",
        }
        r = http.options(NS + "/workflows", headers=preflight)
        refused(r, 403, "forbidden_origin")
        assert not any(k.startswith("access-control-") for k in r.headers)
    r = httpx.options(srv.ui_url + "/namespaces/default/workflows")
    assert r.status_code == 204 and r.headers["allow"] == "GET, HEAD, OPTIONS"


def _assert_security_headers(r: httpx.Response) -> None:
    csp = r.headers.get("content-security-policy", "")
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp, (r.url, csp)
    assert "unsafe-inline" not in csp
    assert r.headers.get("x-content-type-options") == "nosniff", r.url
    assert r.headers.get("referrer-policy") == "no-referrer", r.url
    assert r.headers.get("x-frame-options") == "DENY", r.url


def test_every_answer_carries_the_security_headers(srv: ServerProcess) -> None:
    for url in (
        srv.ui_url + "/namespaces/default/workflows",
        srv.ui_url + "/static/js/app.js",
        srv.ui_url + "/static/style.css",
        srv.url + "/api/v1/docs",
        srv.ui_url + "/api/v1/docs",
        srv.url + NS + "/workflows",
        srv.url + "/api/v1/nope",
    ):
        _assert_security_headers(httpx.get(url, timeout=10))
    _assert_security_headers(
        httpx.post(srv.url + NS + "/workflows", content=b"x", headers={"content-type": "text/plain"})
    )
    docs = httpx.get(srv.url + "/api/v1/docs").text
    assert "<style" not in docs and "style=" not in docs
    css = httpx.get(srv.url + "/api/v1/docs.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


# --- WebSockets -----------------------------------------------------------------------------------------


def test_a_websocket_from_a_foreign_origin_or_host_is_refused_before_it_opens(srv: ServerProcess) -> None:
    start(srv, "ws-victim", task_queue="ws-victim-q")
    tried: list[str] = []
    for base in (srv.url, srv.ui_url):
        for channel in ("workers", "clients"):
            url = ws_url(base, channel)
            for origin in (EVIL, "null", f"http://127.0.0.1:{free_port()}"):
                with (
                    pytest.raises(InvalidStatus) as failure,
                    connect(url, origin=Origin(origin), open_timeout=10) as ws,
                ):
                    # Were it open: register on the victim's queue and take its task, or start one.
                    if channel == "workers":
                        call(ws, 1, "register", {"identity": "ws-attacker", "task_queue": "ws-victim-q"})
                        tried.append(json.dumps(call(ws, 2, "poll_workflow_tasks", {"timeout": 5})))
                    else:
                        tried.append(json.dumps(call(ws, 1, "start_workflow", start_body("ws-started"))))
                assert failure.value.response.status_code == 403
                assert json.loads(bytes(failure.value.response.body or b""))["code"] == "forbidden_origin"
            # A foreign Host: the name of the URL, the socket to this server.
            port = int(base.rsplit(":", 1)[1])
            with pytest.raises(InvalidStatus) as failure:
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                with connect(url.replace("127.0.0.1", "rebind.test"), sock=sock, open_timeout=10):
                    pass
            assert failure.value.response.status_code == 403
            assert json.loads(bytes(failure.value.response.body or b""))["code"] == "forbidden_host"
    assert tried == []
    assert workers_on(srv, "ws-victim-q") == []
    assert not_started(srv, "ws-started")
    pending = describe(srv, "ws-victim").json()["pending_workflow_task"]
    assert pending is not None and pending["started_time"] is None  # no one took the task

    # The server's own origin, and no Origin (as the SDK connects), open as before.
    with connect(
        ws_url(srv.ui_url, "workers"), origin=Origin(f"http://127.0.0.1:{srv.ui_port}"), open_timeout=10
    ) as ws:
        answer = call(ws, 1, "register", {"identity": "ws-own", "task_queue": "ws-own-q"})
        assert "session_id" in answer["ok"], answer
        assert workers_on(srv, "ws-own-q") == ["ws-own"]
    with connect(ws_url(srv.url, "clients"), open_timeout=10) as ws:
        answer = call(ws, 1, "start_workflow", start_body("ws-no-origin"))
        assert answer["ok"]["workflow_id"] == "ws-no-origin", answer
    assert status_of(srv, "ws-no-origin") == "RUNNING"


@workflow.defn
async def nothing(ctx: workflow.Context, value: int) -> int:
    return value


async def test_an_sdk_that_names_the_server_by_a_name_it_does_not_answer_to_is_told_what_to_do(
    srv: ServerProcess,
) -> None:
    # The machine's own name usually resolves to loopback (/etc/hosts); bound to 127.0.0.1, the server does
    # not answer to it (a DNS name like any other) until it is allowed.
    hostname = socket.gethostname()
    try:
        resolved = socket.getaddrinfo(hostname, srv.port, type=socket.SOCK_STREAM)[0][4][0]
    except OSError:
        resolved = ""
    if not str(resolved).startswith("127.") or hostname.lower() == "localhost":
        pytest.skip(f"this machine's name {hostname!r} does not resolve to a loopback address")
    async with await Client.connect(f"{hostname}:{srv.port}") as client:
        with pytest.raises(PermissionDeniedError) as refusal:
            await client.start_workflow(nothing, 1, id="sdk-by-name", task_queue="sdk-q")
        assert f"--allowed-host {hostname.lower()}" in refusal.value.message
        with pytest.raises(PermissionDeniedError) as refusal:
            await Worker(client, task_queue="sdk-q", workflows=[nothing]).run()
        assert f"--allowed-host {hostname.lower()}" in refusal.value.message
    assert not_started(srv, "sdk-by-name")


# --- a real browser -------------------------------------------------------------------------------------

_ATTACK = """<!doctype html><meta charset=utf-8><title>a page on another site</title>
<iframe name=sink hidden></iframe>
<form id=form method=post enctype=text/plain target=sink hidden></form>
<script>
const cfg = CONFIG;
window.results = {};
async function noCors(path, body) {
  try {
    await fetch(cfg.api + path, {method: "POST", mode: "no-cors", headers: {"content-type": "text/plain"},
                                 body: JSON.stringify(body)});
    return "sent";
  } catch (e) { return "failed: " + e; }
}
function formPost(path, body) {
  // The classic trick: a text/plain form whose one field spells a JSON document.
  return new Promise(resolve => {
    delete body.input;  // the form's "=" lands in the input, a string
    const form = document.getElementById("form");
    form.action = cfg.api + path;
    const field = document.createElement("input");
    field.name = JSON.stringify(body).slice(0, -1) + ',"input":"';
    field.value = '"}';
    form.appendChild(field);
    document.querySelector("iframe[name=sink]").onload = () => resolve("sent");
    setTimeout(() => resolve("timeout"), 10000);
    form.submit();
  });
}
function socket(url, first, then) {
  return new Promise(resolve => {
    let opened = false;
    const ws = new WebSocket(url);
    const timer = setTimeout(() => resolve(opened ? "open, no answer" : "timeout"), 15000);
    ws.onopen = () => { opened = true; ws.send(JSON.stringify(first)); };
    ws.onmessage = ev => {
      const msgs = [].concat(JSON.parse(ev.data));
      for (const m of msgs) {
        if (then && m.i === first.i && m.ok) { ws.send(JSON.stringify(then)); then = null; continue; }
        clearTimeout(timer);
        (window.kept = window.kept || []).push(ws);  // stay connected, as a worker would
        resolve("answered: " + ev.data);
      }
    };
    ws.onclose = ev => { clearTimeout(timer); resolve((opened ? "closed " : "refused ") + ev.code); };
  });
}
(async () => {
  const ns = "/api/v1/namespaces/default";
  const ws = cfg.api.replace("http://", "ws://") + ns;
  results.terminate = await noCors(ns + "/workflows/terminate", {workflow_id: cfg.victim, reason: "pwned"});
  results.start = await noCors(ns + "/workflows", cfg.start("fetch"));
  results.form = await formPost(ns + "/workflows", cfg.start("form"));
  results.client = await socket(ws + "/clients/connect", {i: 1, op: "start_workflow", b: cfg.start("ws")});
  results.worker = await socket(ws + "/workers/connect",
    {i: 1, op: "register", b: {identity: "attacker", task_queue: cfg.queue}},
    {i: 2, op: "poll_workflow_tasks", b: {timeout: 5}});
  window.done = true;
})();
</script>"""


def _attack_page(api: str, victim: str, queue: str, prefix: str) -> str:
    a, v, q, p = (json.dumps(x) for x in (api, victim, queue, prefix))
    start = f"what => ({{workflow_id: {p} + what, workflow_type: 'evil', task_queue: {q}, input: null}})"
    config = f"{{api: {a}, victim: {v}, queue: {q}, start: {start}}}"
    return _ATTACK.replace("CONFIG", config)


def test_a_page_on_another_origin_cannot_start_terminate_or_take_tasks(
    srv: ServerProcess, page: Page, attacker: tuple[str, dict[str, str]]
) -> None:
    site, pages = attacker
    for n, api in enumerate((srv.url, srv.ui_url)):
        victim, queue, prefix = f"browser-victim-{n}", f"browser-q-{n}", f"attack-{n}-"
        start(srv, victim, task_queue=queue)  # to terminate
        start(srv, victim + "-work", task_queue=queue)  # whose task a worker would take, with its input
        pages[f"/attack{n}.html"] = _attack_page(api, victim, queue, prefix)
        page.goto(f"{site}/attack{n}.html")
        page.wait_for_function("window.done === true", timeout=60_000)
        results = page.evaluate("window.results")
        # What the page got done, checked through the API (a no-cors request cannot tell what came back).
        done = []
        if status_of(srv, victim) != "RUNNING":
            done.append(f"terminated {victim}")
        done += [f"started {prefix}{what}" for what in ("fetch", "form", "ws") if not not_started(srv, prefix + what)]
        if workers_on(srv, queue):
            done.append(f"registered a worker on {queue}")
        if describe(srv, victim + "-work").json()["pending_workflow_task"]["started_time"] is not None:
            done.append(f"took the task of {victim}-work")
        assert done == [], (done, results)
        # The sockets never opened.
        assert results["client"].startswith("refused"), results
        assert results["worker"].startswith("refused"), results


def test_a_page_on_another_origin_cannot_frame_the_ui(
    srv: ServerProcess, page: Page, attacker: tuple[str, dict[str, str]]
) -> None:
    site, pages = attacker
    ui = srv.ui_url + "/namespaces/default/workflows"
    pages["/frame.html"] = (
        "<!doctype html><title>framing</title><script>window.loaded = false;</script>"
        f"<iframe id=ui src='{ui}' onload='window.loaded = true' width=800 height=600></iframe>"
    )
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(site + "/frame.html")
    page.wait_for_function("window.loaded === true")
    frames = [f for f in page.frames if f is not page.main_frame]
    assert len(frames) == 1
    # Blocked, the frame holds the browser's error page, not the UI.
    assert frames[0].url != ui
    wait_until(lambda: any("frame-ancestors" in text for text in console), 10, what="the frame-ancestors refusal")


def test_the_ui_and_the_api_reference_work_under_the_csp(srv: ServerProcess, page: Page) -> None:
    r = httpx.post(
        srv.url + NS + "/workflows",
        json={
            "workflow_id": "csp-hello",
            "workflow_type": "sdk_example_workflow",
            "task_queue": "hello-task-queue",
            "input": HELLO_INPUT,
        },
    )
    assert r.status_code == 201, r.text
    wait_until(lambda: status_of(srv, "csp-hello") == "COMPLETED", 30, what="the hello workflow to complete")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    # The browser asks for /favicon.ico on the reference page, which has none: that 404 is expected.
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None,
    )
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 and "favicon.ico" not in r.url else None)

    response = page.goto(srv.ui_url + "/namespaces/default/workflows")
    assert response is not None
    assert "frame-ancestors 'none'" in response.headers.get("content-security-policy", "")
    link = page.get_by_role("link", name="csp-hello", exact=True)
    expect(page.locator("table.runs tbody tr", has=link).locator(".badge")).to_have_text("COMPLETED")
    link.click()
    expect(page.locator(".run-status .badge")).to_have_text("COMPLETED")
    bar = page.locator(".timeline .tl-row-activity .tl-bar.tl-completed")
    expect(bar).to_have_count(1)
    # The timeline places its bars with element.style, which the policy allows (no style attributes).
    assert page.evaluate("el => el.style.width", bar.element_handle()).endswith("%")
    expect(page.locator(".history-card")).to_contain_text("Workflow completed")
    # The page's own scripts and stylesheet ran and applied.
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") != "inline"
    assert page.evaluate("window.__csp") == []

    response = page.goto(srv.url + "/api/v1/docs")
    assert response is not None and "frame-ancestors 'none'" in response.headers["content-security-policy"]
    expect(page.locator("h1")).to_contain_text("Mainspring API")
    # The reference's stylesheet applies (body margin 2em at 15px).
    assert page.evaluate("getComputedStyle(document.body).marginTop") == "30px"
    assert page.evaluate("window.__csp") == []
    assert errors == [] and failed == [], (errors, failed)
