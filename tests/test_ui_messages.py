"""Talking to a running workflow from the web UI, in a real headless Chromium against a real server and a real
worker (``tests/workers/messages_worker.py``), and the handlers a workflow type announced in ``describe``
(HTTP, the client, the CLI):

- describe lists the announced signal, query and update handlers (kind, name, payload schema); null for a
  function workflow; the CLI prints their names;
- "Send signal" offers the announced names, checks the payload in the page (JSON, its top-level type, an
  object's required fields) and sends it; the signal takes effect (the workflow's result shows it) and
  appears on the timeline and in the history, with its name and payload;
- the server's refusal (a field of the wrong type, a closed workflow) is shown in the dialog as the server
  wrote it; a workflow that announced nothing takes a typed name;
- "Query" offers the announced query names (and, where the server has the query endpoint, shows the answer
  or the error);
- a signal's hostile name and payload are shown as text, and a huge payload is cut in the view.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from mainspring import Client
from support import ServerProcess, WorkerProcess, chromium, run_cli, wait_until

pytestmark = pytest.mark.slow

WORKER = Path(__file__).resolve().parent / "workers" / "messages_worker.py"
QUEUE = "ui-messages-queue"
EVIL = '<img src=x onerror="window.__pwned=1">'

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("ui-messages")
    server = ServerProcess(tmp / "mainspring.db").start()
    worker = WorkerProcess(WORKER, server.address, log_path=tmp / "messages.log")
    try:
        worker.start(wait_ready=False)
        wait_until(lambda: "polling task queue" in worker.log(), 30, what="the messages worker to start")
        yield server
    finally:
        worker.stop(timeout=10)
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light", locale="en-US")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    # A refused request (the 400s these tests provoke) logs "Failed to load resource": expected.
    pg.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None,
    )
    try:
        yield pg
    finally:
        context.close()
    assert not errors, f"the page logged errors: {errors}"


# --- helpers --------------------------------------------------------------------------------------------


def api(server: ServerProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{server.url}/api/v1/namespaces/default{path}", timeout=10, **kwargs)


def start(server: ServerProcess, workflow_type: str, input: Any) -> str:
    wid = f"m-{uuid.uuid4().hex[:10]}"
    body = {"workflow_id": wid, "workflow_type": workflow_type, "task_queue": QUEUE, "input": input}
    r = api(server, "POST", "/workflows", json=body)
    assert r.status_code == 201, r.text
    return wid


def describe(server: ServerProcess, wid: str) -> dict[str, Any]:
    r = api(server, "GET", "/workflows/describe", params={"workflow_id": wid})
    assert r.status_code == 200, r.text
    return dict(r.json())


def signals_in_history(server: ServerProcess, wid: str) -> list[dict[str, Any]]:
    r = api(server, "GET", "/workflows/history", params={"workflow_id": wid})
    return [e for e in r.json()["events"] if e["event_type"] == "WorkflowExecutionSignaled"]


def open_run(page: Page, server: ServerProcess, wid: str) -> None:
    page.goto(server.ui_url + "/namespaces/default/workflows/" + urllib.parse.quote(wid, safe=""))
    expect(page.locator(".run-status .badge")).to_have_text("RUNNING")


def open_dialog(page: Page, action: str) -> Locator:
    page.locator(f".run-actions [data-action={action}]").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    return dialog


def query_endpoint_exists(server: ServerProcess) -> bool:
    paths = httpx.get(f"{server.url}/api/v1/openapi.json", timeout=10).json()["paths"]
    return "/api/v1/namespaces/{namespace}/workflows/query" in paths


# --- describe -------------------------------------------------------------------------------------------


def test_describe_lists_the_announced_handlers_over_http_the_client_and_the_cli(srv: ServerProcess) -> None:
    wid = start(srv, "ui_inbox", None)
    handlers = describe(srv, wid)["handlers"]
    assert [(x["kind"], x["name"]) for x in handlers] == [
        ("signal", "add"),
        ("signal", "close"),
        ("signal", None),  # the dynamic handler
        ("query", "count"),
        ("query", "notes"),
        ("query", "peek"),
        ("update", "pin"),
        ("update", "unpin"),
        ("update", "await_note"),
        ("update", None),  # the dynamic handler
    ]
    add = handlers[0]["input_schema"]
    assert add["type"] == "object" and add["required"] == ["text"] and set(add["properties"]) == {"text", "priority"}
    assert handlers[1]["input_schema"] == {"type": "null"}  # close takes no payload
    assert handlers[4]["input_schema"] == {"type": "string"}

    async def through_the_client() -> Any:
        async with await Client.connect(srv.address) as client:
            return (await client.get_workflow_handle(wid).describe()).handlers

    assert asyncio.run(through_the_client()) == handlers

    text = run_cli("workflow", "describe", "-w", wid, address=srv.address)
    assert text.returncode == 0, text.stderr
    assert "Handlers    Signals: add, close, (any: dynamic)  Queries: count, notes, peek" in text.stdout
    as_json = run_cli("workflow", "describe", "-w", wid, "-o", "json", address=srv.address)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["handlers"] == handlers

    # A function workflow announces none: null, and the CLI says nothing of handlers.
    plain = start(srv, "ui_plain", 600)
    assert describe(srv, plain)["handlers"] is None
    text = run_cli("workflow", "describe", "-w", plain, address=srv.address)
    assert text.returncode == 0 and "Handlers" not in text.stdout, text.stdout


# --- signals --------------------------------------------------------------------------------------------


def test_send_signals_from_the_run_page_and_see_them_take_effect(srv: ServerProcess, page: Page) -> None:
    wid = start(srv, "ui_inbox", None)
    open_run(page, srv, wid)
    expect(page.locator(".run-actions button")).to_have_text(
        ["Send signal", "Query", "Run update", "Cancel", "Terminate"]
    )

    dialog = open_dialog(page, "signal")
    names = dialog.locator("select[name=signal_name]")
    # The announced names, in their order, and another name for the dynamic handler.
    expect(names.locator("option")).to_have_text(["add", "close", "Another name…"])
    expect(dialog.locator("input[name=signal_name_text]")).to_be_hidden()
    expect(dialog.locator(".payload-hint")).to_have_text("Expects a JSON object with the fields text, priority.")
    dialog.locator("textarea[name=payload]").fill('{"text": "<b>first</b>", "priority": 2}')
    dialog.get_by_role("button", name="Send signal").click()
    expect(dialog).to_have_count(0)
    expect(page.locator(".toast").filter(has_text="Signal add sent")).to_have_count(1)

    # On the timeline (a mark on the signals' row) and in the history, with its name and payload.
    row = page.locator(".hrows-compact .hrow-signal")
    expect(row).to_have_count(1)
    expect(row.locator(".hrow-title")).to_have_text("Signal add")
    expect(row.locator(".hrow-summary")).to_contain_text('payload {"text":"<b>first</b>","priority":2}')
    expect(page.locator(".tl-row-signals .tl-signal-mark")).to_have_count(1)
    page.locator(".tl-row-signals .tl-signal-mark").click()  # opens it in the history
    expect(page.locator(".hrows-compact .hrow-signal[open] .json")).to_contain_text('"signal_name": "add"')

    # A name of its own, for the dynamic handler.
    dialog = open_dialog(page, "signal")
    dialog.locator("select[name=signal_name]").select_option(label="Another name…")
    dialog.locator("input[name=signal_name_text]").fill("memo")
    expect(dialog.locator(".payload-hint")).to_have_text("One JSON value; leave it empty for none.")
    dialog.locator("textarea[name=payload]").fill('"call back"')
    dialog.get_by_role("button", name="Send signal").click()
    expect(dialog).to_have_count(0)
    expect(page.locator(".hrows-compact .hrow-signal")).to_have_count(2)

    # "close" takes no payload: sent empty, it ends the workflow, whose result holds the notes.
    dialog = open_dialog(page, "signal")
    dialog.locator("select[name=signal_name]").select_option("close")
    expect(dialog.locator(".payload-hint")).to_have_text("This handler takes no payload: leave it empty.")
    dialog.get_by_role("button", name="Send signal").click()
    expect(dialog).to_have_count(0)
    expect(page.locator(".run-status .badge")).to_have_text("COMPLETED", timeout=30_000)
    expect(page.locator(".outcome-result")).to_contain_text('"<b>first</b>"')
    result = api(srv, "GET", "/workflows/result", params={"workflow_id": wid}).json()
    assert result["result"] == ["<b>first</b>", "memo: call back"], result
    expect(page.locator(".tl-row-signals .tl-signal-mark")).to_have_count(3)
    expect(page.locator(".hrows-compact .hrow-signal .hrow-title")).to_have_text(
        ["Signal add", "Signal memo", "Signal close"]
    )
    # Closed: nothing to signal, but its queries can still be asked.
    expect(page.locator(".run-actions button")).to_have_text(["Query"])
    assert page.locator("main b").count() == 0  # the payload's markup stayed text
    sent = signals_in_history(srv, wid)
    assert [(e["attributes"]["signal_name"], e["attributes"]["input"]) for e in sent] == [
        ("add", {"text": "<b>first</b>", "priority": 2}),
        ("memo", "call back"),
        ("close", None),
    ]
    request_ids = {e["attributes"].get("request_id") for e in sent}
    assert None not in request_ids and len(request_ids) == 3  # each with its own request id


def test_a_bad_payload_is_stopped_in_the_page_or_refused_with_the_servers_message(
    srv: ServerProcess, page: Page
) -> None:
    wid = start(srv, "ui_inbox", None)
    open_run(page, srv, wid)
    dialog = open_dialog(page, "signal")
    payload = dialog.locator("textarea[name=payload]")
    send = dialog.get_by_role("button", name="Send signal")
    field_error = dialog.locator(".field-error")

    # Caught in the page, before anything is sent.
    for text, message in (
        ('{"text": ', "The payload is not valid JSON"),
        ('"just a note"', "This payload should be a JSON object, not a string."),
        ('{"priority": 1}', 'This payload is missing the field "text".'),
        ("", "This payload should be a JSON object, not empty."),
    ):
        payload.fill(text)
        send.click()
        expect(field_error).to_contain_text(message)
        expect(dialog).to_be_visible()
    assert signals_in_history(srv, wid) == []

    # Past the page's check but not the server's: its 400, as the server wrote it (naming the field).
    bad = {"text": 5}
    payload.fill(json.dumps(bad))
    send.click()
    expect(field_error).to_be_hidden()
    refused = api(srv, "POST", "/workflows/signal", json={"workflow_id": wid, "signal_name": "add", "input": bad})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_input", refused.text
    assert "text" in refused.json()["message"]
    expect(dialog.locator(".form-error")).to_have_text(refused.json()["message"])

    # The workflow closed meanwhile: the server's not_running message.
    assert api(srv, "POST", "/workflows/terminate", json={"workflow_id": wid}).status_code == 200
    payload.fill('{"text": "late"}')
    send.click()
    late_body = {"workflow_id": wid, "signal_name": "add", "input": {"text": "x"}}
    late = api(srv, "POST", "/workflows/signal", json=late_body)
    assert late.status_code == 400 and late.json()["code"] == "not_running", late.text
    expect(dialog.locator(".form-error")).to_have_text(late.json()["message"])
    assert signals_in_history(srv, wid) == []


def test_a_workflow_that_announced_no_handlers_takes_a_typed_signal_name(srv: ServerProcess, page: Page) -> None:
    wid = start(srv, "ui_plain", 600)
    open_run(page, srv, wid)
    dialog = open_dialog(page, "signal")
    expect(dialog.locator("select")).to_have_count(0)
    expect(dialog).to_contain_text("No worker announced this workflow type's signal handlers")
    dialog.locator("input[name=signal_name_text]").fill("poke")
    dialog.locator("textarea[name=payload]").fill("[1, 2]")
    dialog.get_by_role("button", name="Send signal").click()
    expect(dialog).to_have_count(0)
    expect(page.locator(".hrows-compact .hrow-signal .hrow-title")).to_have_text("Signal poke")
    assert [e["attributes"]["input"] for e in signals_in_history(srv, wid)] == [[1, 2]]
    api(srv, "POST", "/workflows/terminate", json={"workflow_id": wid})


# --- queries --------------------------------------------------------------------------------------------


def test_the_query_form_offers_the_announced_query_names(srv: ServerProcess, page: Page) -> None:
    wid = start(srv, "ui_inbox", None)
    open_run(page, srv, wid)
    dialog = open_dialog(page, "query")
    expect(dialog).to_contain_text("Query the workflow")
    names = dialog.locator("select[name=query_name]")
    expect(names.locator("option")).to_have_text(["count", "notes", "peek"])  # no dynamic query: no other name
    expect(dialog.locator(".payload-hint")).to_have_text("This handler takes no payload: leave it empty.")
    names.select_option("notes")
    expect(dialog.locator(".payload-hint")).to_have_text("Expects a string (in double quotes).")
    dialog.locator("textarea[name=payload]").fill("12")
    dialog.get_by_role("button", name="Run query").click()
    expect(dialog.locator(".field-error")).to_have_text(
        "This payload should be a string (in double quotes), not a number."
    )
    api(srv, "POST", "/workflows/terminate", json={"workflow_id": wid})


def test_a_query_shows_its_answer_or_the_servers_error(srv: ServerProcess, page: Page) -> None:
    if not query_endpoint_exists(srv):
        pytest.skip("this server has no query endpoint yet (POST /workflows/query)")
    wid = start(srv, "ui_inbox", None)
    for text in ("apple", "avocado", "banana"):
        body = {"workflow_id": wid, "signal_name": "add", "input": {"text": text}}
        r = api(srv, "POST", "/workflows/signal", json=body)
        assert r.status_code == 200, r.text
    open_run(page, srv, wid)
    dialog = open_dialog(page, "query")
    dialog.locator("select[name=query_name]").select_option("notes")
    dialog.locator("textarea[name=payload]").fill('"a"')
    dialog.get_by_role("button", name="Run query").click()
    answer = dialog.locator(".query-answer")
    expect(answer).to_contain_text("Answer of notes")
    expect(answer.locator(".json")).to_have_text(json.dumps(["apple", "avocado"], indent=2))
    expect(dialog).to_be_visible()  # it stays open to ask again
    # A query whose handler fails: the server's message, as it wrote it, and no answer.
    dialog.locator("select[name=query_name]").select_option("peek")
    dialog.locator("textarea[name=payload]").fill("99")
    dialog.get_by_role("button", name="Run query").click()
    failed = api(srv, "POST", "/workflows/query", json={"workflow_id": wid, "query_name": "peek", "input": 99})
    assert 400 <= failed.status_code < 500, failed.text
    expect(dialog.locator(".form-error")).to_have_text(failed.json()["message"])
    expect(answer).to_be_hidden()
    # An unknown name (the UI offers only known ones): the server lists the names it knows.
    r = api(srv, "POST", "/workflows/query", json={"workflow_id": wid, "query_name": "nope", "input": None})
    assert r.status_code >= 400 and r.json()["code"] == "unknown_query", r.text
    assert set(r.json()["details"]["known"]) >= {"count", "notes", "peek"}
    api(srv, "POST", "/workflows/terminate", json={"workflow_id": wid})


# --- hostile text ---------------------------------------------------------------------------------------


def test_hostile_signal_names_and_payloads_are_text_and_a_huge_payload_is_cut(srv: ServerProcess, page: Page) -> None:
    wid = start(srv, "ui_plain", 600)
    huge = {"blob": "x" * 300_000, "html": EVIL}
    for name, payload in ((EVIL, EVIL), ("huge", huge)):
        r = api(srv, "POST", "/workflows/signal", json={"workflow_id": wid, "signal_name": name, "input": payload})
        assert r.status_code == 200, r.text
    open_run(page, srv, wid)
    rows = page.locator(".hrows-compact .hrow-signal")
    expect(rows.locator(".hrow-title")).to_have_text([f"Signal {EVIL}", "Signal huge"])
    expect(rows.first.locator(".hrow-summary")).to_contain_text(json.dumps(EVIL))
    expect(page.locator(".tl-row-signals .tl-signal-mark")).to_have_count(2)
    assert EVIL in (page.locator(".tl-row-signals .tl-signal-mark").first.get_attribute("title") or "")
    # The huge one: its row's summary is one short line, and its JSON is cut until asked for in full.
    assert len(rows.nth(1).locator(".hrow-summary").inner_text()) < 300
    rows.nth(1).locator("summary").click()
    clipped = rows.nth(1).locator(".json-clipped")
    expect(clipped).to_have_count(1)
    assert len(clipped.inner_text()) < 25_000
    clipped.get_by_role("button", name="Show all").click()
    expect(rows.nth(1).locator(".json-clipped")).to_have_count(0)
    assert len(rows.nth(1).locator(".json").inner_text()) > 300_000
    # The "All events" view cuts it too.
    page.get_by_role("tab", name="All events").click()
    expect(page.locator(".hrows-all .hrow-event-signal .event-type")).to_have_text(["WorkflowExecutionSignaled"] * 2)
    page.locator(".hrows-all .hrow", has_text="huge").locator("summary").click()
    expect(page.locator(".hrows-all .hrow[open] .json-clipped")).to_have_count(1)
    # Nothing ran, and no element was made from the text.
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src='x']").count() == 0
    api(srv, "POST", "/workflows/terminate", json={"workflow_id": wid})
