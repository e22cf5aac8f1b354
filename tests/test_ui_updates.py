"""Updates from the web UI, in a real headless Chromium against a real server and a real worker
(``tests/workers/messages_worker.py``: ``ui_inbox``'s ``pin`` with its validator, ``unpin`` whose handler
fails past the end, ``await_note`` that waits for a note, a dynamic update handler; ``ui_bell`` with no
update handlers; ``ui_plain``, a function workflow):

- "Run update" offers the announced update names (and another name, for the dynamic handler), sends the
  update, waits for its outcome and shows its result; the next send of the same form is a new update;
- a validator's rejection is shown as such, and nothing is recorded in the history; a handler's failure is
  shown as such, and recorded; an unknown name gets the server's message;
- while the handler runs the dialog asks again with the same request (the same update id), and shows the
  result once it is there; a resend after a lost answer is applied once;
- accepted and completed updates are in the compact history, the all-events view and on the timeline (a
  click opens the update in the history);
- hostile update names and payloads are shown as text.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect

from support import ServerProcess, WorkerProcess, chromium, wait_until

pytestmark = pytest.mark.slow

WORKER = Path(__file__).resolve().parent / "workers" / "messages_worker.py"
QUEUE = "ui-messages-queue"
EVIL = '<img src=x onerror="window.__pwned=1">'
UPDATE_EVENTS = ("WorkflowExecutionUpdateAccepted", "WorkflowExecutionUpdateCompleted")

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("ui-updates")
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
    kwargs.setdefault("timeout", 30)
    return httpx.request(method, f"{server.url}/api/v1/namespaces/default{path}", **kwargs)


def start(server: ServerProcess, workflow_type: str, input: Any) -> str:
    wid = f"u-{uuid.uuid4().hex[:10]}"
    body = {"workflow_id": wid, "workflow_type": workflow_type, "task_queue": QUEUE, "input": input}
    r = api(server, "POST", "/workflows", json=body)
    assert r.status_code == 201, r.text
    return wid


def history(server: ServerProcess, wid: str) -> list[dict[str, Any]]:
    r = api(server, "GET", "/workflows/history", params={"workflow_id": wid})
    assert r.status_code == 200, r.text
    return list(r.json()["events"])


def update_events(server: ServerProcess, wid: str) -> list[dict[str, Any]]:
    return [e for e in history(server, wid) if e["event_type"] in UPDATE_EVENTS]


def send_update(server: ServerProcess, wid: str, name: str, input: Any) -> dict[str, Any]:
    body = {"workflow_id": wid, "update_id": uuid.uuid4().hex, "name": name, "input": input, "wait": 30}
    r = api(server, "POST", "/workflows/update", json=body)
    assert r.status_code == 200, r.text
    answer = dict(r.json())
    assert answer["stage"] == "COMPLETED", answer
    return answer


def terminate(server: ServerProcess, wid: str) -> None:
    api(server, "POST", "/workflows/terminate", json={"workflow_id": wid})


def open_run(page: Page, server: ServerProcess, wid: str) -> None:
    page.goto(server.ui_url + "/namespaces/default/workflows/" + urllib.parse.quote(wid, safe=""))
    expect(page.locator(".run-status .badge")).to_have_text("RUNNING")


def open_update_dialog(page: Page) -> Locator:
    page.locator(".run-actions [data-action=update]").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Run an update")
    return dialog


def run_update(dialog: Locator, payload: str, name: str | None = None) -> None:
    if name is not None:
        dialog.locator("select[name=update_name]").select_option(name)
    dialog.locator("textarea[name=payload]").fill(payload)
    dialog.get_by_role("button", name="Run update").click()


def close(dialog: Locator) -> None:
    dialog.locator(".modal-actions").get_by_role("button", name="Close").click()
    expect(dialog).to_have_count(0)


# --- running updates ------------------------------------------------------------------------------------


def test_run_an_update_from_the_run_page_and_see_its_result(srv: ServerProcess, page: Page) -> None:
    wid = start(srv, "ui_inbox", None)
    open_run(page, srv, wid)
    expect(page.locator(".run-actions button")).to_have_text(
        ["Send signal", "Query", "Run update", "Cancel", "Terminate"]
    )
    dialog = open_update_dialog(page)
    names = dialog.locator("select[name=update_name]")
    # The announced names, in their order, and another name for the dynamic handler.
    expect(names.locator("option")).to_have_text(["pin", "unpin", "await_note", "Another name…"])
    expect(dialog.locator(".payload-hint")).to_have_text("Expects a JSON object with the fields text, priority.")
    # Checked in the page against the announced schema, before anything is sent.
    run_update(dialog, '{"priority": 1}')
    expect(dialog.locator(".field-error")).to_have_text('This payload is missing the field "text".')
    assert update_events(srv, wid) == []

    run_update(dialog, '{"text": "first", "priority": 1}')
    answer = dialog.locator(".update-answer")
    expect(answer).to_contain_text("Result of pin")
    expect(answer.locator(".json")).to_have_text(json.dumps({"pinned": "first", "count": 1}, indent=2))
    expect(dialog).to_be_visible()  # it stays open, to send another
    # The same form sent again, after its outcome was shown: a new update, not the same one again.
    dialog.get_by_role("button", name="Run update").click()
    expect(answer.locator(".json")).to_have_text(json.dumps({"pinned": "first", "count": 2}, indent=2))
    # A name of its own, for the dynamic handler.
    names.select_option(label="Another name…")
    dialog.locator("input[name=update_name_text]").fill("memo")
    run_update(dialog, '"call back"')
    expect(answer).to_contain_text("Result of memo")
    expect(answer.locator(".json")).to_have_text(json.dumps("memo: call back"))
    close(dialog)
    expect(dialog).to_have_count(0)

    accepted = [e for e in update_events(srv, wid) if e["event_type"] == UPDATE_EVENTS[0]]
    assert [(e["attributes"]["name"], e["attributes"]["input"]) for e in accepted] == [
        ("pin", {"text": "first", "priority": 1}),
        ("pin", {"text": "first", "priority": 1}),
        ("memo", "call back"),
    ]
    assert len({e["attributes"]["update_id"] for e in accepted}) == 3  # each with its own update id

    # In the compact history: one row per update, from its acceptance to its outcome.
    rows = page.locator(".hrows-compact .hrow-update")
    expect(rows.locator(".hrow-title")).to_have_text(["Update pin", "Update pin", "Update memo"])
    expect(rows.locator(".state")).to_have_text(["completed"] * 3)
    expect(rows.first.locator(".hrow-summary")).to_have_text('result {"pinned":"first","count":1}')
    expect(rows.nth(2).locator(".hrow-summary")).to_have_text('result "memo: call back"')
    # On the timeline: one span each on the updates' row; a click opens it in the history.
    spans = page.locator(".tl-row-updates .tl-update")
    expect(spans).to_have_count(3)
    assert "update memo accepted at" in (spans.nth(2).get_attribute("title") or "")
    spans.nth(2).click()
    opened = page.locator(".hrows-compact .hrow-update[open]")
    expect(opened).to_have_count(1)
    expect(opened.locator(".event-head strong")).to_have_text(list(UPDATE_EVENTS))
    expect(opened.locator(".json").first).to_contain_text('"name": "memo"')
    # In the all-events view, in the updates' colour.
    page.get_by_role("tab", name="All events").click()
    expect(page.locator(".hrows-all .hrow-event-update .event-type")).to_have_text(list(UPDATE_EVENTS) * 3)
    terminate(srv, wid)
    # Closed: no updates to send.
    expect(page.locator(".run-actions [data-action=update]")).to_have_count(0)


def test_a_validators_rejection_is_shown_and_nothing_is_recorded(srv: ServerProcess, page: Page) -> None:
    wid = start(srv, "ui_inbox", None)
    send_update(srv, wid, "pin", {"text": "kept"})
    before = history(srv, wid)
    open_run(page, srv, wid)
    expect(page.locator(".hrows-compact .hrow-update")).to_have_count(1)
    dialog = open_update_dialog(page)
    outcome = dialog.locator(".update-answer .update-rejected")
    for payload, message in (
        ('{"text": "   "}', "ValueError: a pinned note needs some text"),
        ('{"text": "x", "priority": -1}', "ValueError: priority must be 0 or more, got -1"),
    ):
        run_update(dialog, payload)
        expect(outcome.locator(".update-outcome-head")).to_have_text("Rejected by the validator")
        expect(outcome.locator(".update-outcome-text")).to_have_text(message)
        expect(outcome).to_contain_text("nothing was recorded in the history")
        expect(dialog.locator(".form-error")).to_be_hidden()
    # What the server answers for such an update: the same, rejected, and it left no trace in history.
    r = api(
        srv,
        "POST",
        "/workflows/update",
        json={"workflow_id": wid, "update_id": uuid.uuid4().hex, "name": "pin", "input": {"text": " "}},
    )
    assert r.json()["rejected"] is True and r.json()["failure"]["message"] == "a pinned note needs some text"
    assert history(srv, wid) == before
    # The workflow goes on: the next update is accepted.
    run_update(dialog, '{"text": "second"}')
    expect(dialog.locator(".update-answer .json")).to_have_text(json.dumps({"pinned": "second", "count": 2}, indent=2))
    close(dialog)
    expect(page.locator(".hrows-compact .hrow-update .hrow-summary")).to_have_text(
        ['result {"pinned":"kept","count":1}', 'result {"pinned":"second","count":2}']
    )
    terminate(srv, wid)


def test_a_handlers_failure_is_shown_and_recorded(srv: ServerProcess, page: Page) -> None:
    wid = start(srv, "ui_inbox", None)
    open_run(page, srv, wid)
    dialog = open_update_dialog(page)
    expect(dialog.locator("select[name=update_name]")).to_be_visible()
    dialog.locator("select[name=update_name]").select_option("unpin")
    expect(dialog.locator(".payload-hint")).to_have_text("Expects an integer.")
    run_update(dialog, "5")
    outcome = dialog.locator(".update-answer .update-failed")
    expect(outcome.locator(".update-outcome-head")).to_have_text("The handler failed")
    expect(outcome.locator(".update-outcome-text")).to_have_text("NoSuchNote: no note at index 5 (there are 0)")
    expect(outcome).to_contain_text("its failure is recorded in the history")
    close(dialog)
    events = update_events(srv, wid)
    assert [e["event_type"] for e in events] == list(UPDATE_EVENTS)
    assert events[1]["attributes"]["failure"]["message"] == "no note at index 5 (there are 0)"
    row = page.locator(".hrows-compact .hrow-update")
    expect(row.locator(".hrow-title")).to_have_text("Update unpin")
    expect(row.locator(".state")).to_have_text("failed")
    expect(row.locator(".hrow-summary")).to_have_text("failed: NoSuchNote: no note at index 5 (there are 0)")
    expect(page.locator(".tl-row-updates .tl-update.tl-update-failed")).to_have_count(1)
    expect(page.locator(".run-status .badge")).to_have_text("RUNNING")  # the update failed, not the workflow
    terminate(srv, wid)


def test_an_unknown_update_name_gets_the_servers_message(srv: ServerProcess, page: Page) -> None:
    wid = start(srv, "ui_bell", None)
    open_run(page, srv, wid)
    dialog = open_update_dialog(page)
    # The type announced its handlers, none of them an update: a typed name, and a word that there are none.
    expect(dialog.locator("select")).to_have_count(0)
    expect(dialog).to_contain_text("This workflow type announced no update handlers.")
    dialog.locator("input[name=update_name_text]").fill("nudge")
    dialog.get_by_role("button", name="Run update").click()
    refused = api(srv, "POST", "/workflows/update", json={"workflow_id": wid, "update_id": "u1", "name": "nudge"})
    assert refused.status_code == 400 and refused.json()["code"] == "unknown_update", refused.text
    expect(dialog.locator(".form-error")).to_contain_text(refused.json()["message"])
    expect(dialog.locator(".form-error")).to_contain_text("This workflow has no update handlers.")
    expect(dialog.locator(".update-answer")).to_be_hidden()
    assert update_events(srv, wid) == []
    terminate(srv, wid)


def test_the_dialog_asks_again_until_the_handler_finished(srv: ServerProcess, page: Page) -> None:
    wid = start(srv, "ui_inbox", None)
    sent: list[dict[str, Any]] = []

    def without_waiting(route: Route) -> None:
        body = route.request.post_data_json
        sent.append(body)
        # Each request answers at once, as a server with a short --max-poll-wait would: the dialog must ask
        # again, with the same request, until the outcome is there.
        route.continue_(post_data=json.dumps({**body, "wait": 0}))

    page.route("**/workflows/update", without_waiting)
    open_run(page, srv, wid)
    dialog = open_update_dialog(page)
    run_update(dialog, '"ready"', name="await_note")
    wait_until(lambda: len(update_events(srv, wid)) == 1, 30, what="the update to be accepted")
    expect(dialog.locator(".update-stage")).to_have_text("Accepted: waiting for its handler to finish…")
    # Accepted and running: in the history (open) and on the timeline (open to now).
    row = page.locator(".hrows-compact .hrow-update")
    expect(row.locator(".state")).to_have_text("accepted")
    expect(row.locator(".hrow-summary")).to_have_text('input "ready"')
    expect(row.locator(".hrow-dur")).to_have_text("open")
    expect(page.locator(".tl-row-updates .tl-update.tl-open")).to_have_count(1)

    r = api(
        srv, "POST", "/workflows/signal", json={"workflow_id": wid, "signal_name": "add", "input": {"text": "ready"}}
    )
    assert r.status_code == 200, r.text
    expect(dialog.locator(".update-answer .json")).to_have_text("1")
    assert len(sent) >= 2 and all(body == sent[0] for body in sent), sent  # the same request each time: one update id
    assert sent[0]["wait_for_stage"] == "COMPLETED" and sent[0]["name"] == "await_note"
    close(dialog)
    expect(row.locator(".state")).to_have_text("completed")
    assert len(update_events(srv, wid)) == 2
    terminate(srv, wid)


def test_a_resend_after_a_lost_answer_is_applied_once(srv: ServerProcess, page: Page) -> None:
    wid = start(srv, "ui_inbox", None)
    sent: list[dict[str, Any]] = []

    def lose_the_first_answer(route: Route) -> None:
        sent.append(route.request.post_data_json)
        if len(sent) == 1:
            route.fetch()  # the server applies it ...
            route.abort()  # ... and its answer is lost on the way back
        else:
            route.continue_()

    page.route("**/workflows/update", lose_the_first_answer)
    open_run(page, srv, wid)
    dialog = open_update_dialog(page)
    run_update(dialog, '{"text": "once"}')
    expect(dialog.locator(".form-error")).to_have_text("The server did not answer (is it running?)")
    assert len(update_events(srv, wid)) == 2  # it was applied
    dialog.get_by_role("button", name="Run update").click()
    # The same update again: its outcome as it was, not a second note.
    expect(dialog.locator(".update-answer .json")).to_have_text(json.dumps({"pinned": "once", "count": 1}, indent=2))
    assert len(sent) == 2 and sent[0]["update_id"] == sent[1]["update_id"]
    assert len(update_events(srv, wid)) == 2
    # A corrected payload is a new update.
    run_update(dialog, '{"text": "twice"}')
    expect(dialog.locator(".update-answer .json")).to_have_text(json.dumps({"pinned": "twice", "count": 2}, indent=2))
    assert sent[2]["update_id"] != sent[0]["update_id"]
    terminate(srv, wid)


# --- hostile text ---------------------------------------------------------------------------------------


def test_hostile_update_names_and_payloads_are_text(srv: ServerProcess, page: Page) -> None:
    wid = start(srv, "ui_inbox", None)
    send_update(srv, wid, EVIL, EVIL)  # the dynamic handler takes any name
    send_update(srv, wid, "pin", {"text": EVIL})
    open_run(page, srv, wid)
    rows = page.locator(".hrows-compact .hrow-update")
    expect(rows.locator(".hrow-title")).to_have_text([f"Update {EVIL}", "Update pin"])
    expect(rows.first.locator(".hrow-summary")).to_have_text("result " + json.dumps(f"{EVIL}: {EVIL}"))
    spans = page.locator(".tl-row-updates .tl-update")
    expect(spans).to_have_count(2)
    assert EVIL in (spans.first.get_attribute("title") or "")
    expect(page.locator(".tl-row-updates .tl-text")).to_contain_text(EVIL)

    # From the dialog: a hostile name and payload, and their result, as text.
    dialog = open_update_dialog(page)
    dialog.locator("select[name=update_name]").select_option(label="Another name…")
    dialog.locator("input[name=update_name_text]").fill(EVIL)
    run_update(dialog, json.dumps(EVIL))
    expect(dialog.locator(".update-answer")).to_contain_text(f"Result of {EVIL}")
    expect(dialog.locator(".update-answer .json")).to_have_text(json.dumps(f"{EVIL}: {EVIL}"))
    # A huge result is cut in the view (Copy copies all of it), and its row's summary is one short line.
    run_update(dialog, json.dumps("y" * 60_000))
    expect(dialog.locator(".update-answer")).to_contain_text(f"Result of {EVIL}")
    clipped = dialog.locator(".update-answer .json-clipped")
    expect(clipped).to_have_count(1)
    assert len(clipped.inner_text()) < 25_000
    close(dialog)
    expect(rows).to_have_count(4)
    assert len(rows.nth(3).locator(".hrow-summary").inner_text()) < 300
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src='x']").count() == 0

    # A function workflow announced nothing: a typed name, which its worker rejects, with the name in its
    # message, shown as text (and not as the validator's: it has none).
    plain = start(srv, "ui_plain", 600)
    open_run(page, srv, plain)
    dialog = open_update_dialog(page)
    expect(dialog).to_contain_text("No worker announced this workflow type's update handlers")
    dialog.locator("input[name=update_name_text]").fill(EVIL)
    dialog.get_by_role("button", name="Run update").click()
    outcome = dialog.locator(".update-answer .update-rejected")
    expect(outcome.locator(".update-outcome-head")).to_have_text("Rejected by the workflow")
    expect(outcome.locator(".update-outcome-text")).to_contain_text(f"has no update named {EVIL!r}")
    assert update_events(srv, plain) == []
    # Nothing ran, and no element was made from the text.
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src='x']").count() == 0
    terminate(srv, wid)
    terminate(srv, plain)
