"""The web UI in a real headless Chromium (Debian's ``chromium``, driven by Playwright), against a real server
and real workers: the pages a user sees after starting workflows from the CLI, the actions they take, and
that nothing a user typed (ids, inputs, error messages) can run as code.

One server, three workers (the hello and order examples, and ``tests/workers/ui_worker.py``) and one browser
serve the whole module; each test gets a fresh browser context. The tests take the screenshots shown in
README.md into pytest's temporary folder, so a test run leaves the work tree as it was; ``scripts/screenshots.sh``
runs them with ``MAINSPRING_UPDATE_SCREENSHOTS=1`` to refresh ``docs/screenshots/`` instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from support import EXAMPLES, ROOT, ServerProcess, WorkerProcess, chromium, run_cli, wait_until

pytestmark = pytest.mark.slow

UI_WORKER = Path(__file__).resolve().parent / "workers" / "ui_worker.py"
UI_QUEUE = "ui-task-queue"
ORDER_QUEUE = "order-task-queue"
HELLO_INPUT = {"code": "python", "kind": "typesafe"}
#: The README's pictures: written only by ``scripts/screenshots.sh`` (which sets this variable), never by a test run.
README_SHOTS = ROOT / "docs" / "screenshots"
UPDATE_SHOTS = os.environ.get("MAINSPRING_UPDATE_SCREENSHOTS") == "1"
SHOT_NAMES = ("workflows.png", "run.png", "workflows-phone.png", "run-phone.png")
VIEWPORT = {"width": 1280, "height": 800}
PHONE = {"width": 400, "height": 860}
# A workflow id and an input that would run script if the UI ever put them into the page as HTML.
EVIL_ID = "x<script>window.__pwned=1</script>"
EVIL_INPUT = '<img src=x onerror="window.__pwned=2">'

expect.set_options(timeout=10_000)


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with the hello, order and UI test workers polling it, for the whole module."""
    tmp = tmp_path_factory.mktemp("ui")
    server = ServerProcess(tmp / "mainspring.db").start()
    workers = [
        WorkerProcess(EXAMPLES / "hello" / "worker.py", server.address, log_path=tmp / "hello.log"),
        WorkerProcess(EXAMPLES / "order" / "worker.py", server.address, log_path=tmp / "o.log"),
        WorkerProcess(UI_WORKER, server.address, log_path=tmp / "ui.log"),
    ]
    try:
        # Started together, then awaited: they come up in parallel.
        for w in workers:
            w.start(wait_ready=False)
        for w in workers:
            wait_until(lambda w=w: "polling task queue" in w.log(), 20, what=f"worker {w.script} to start")
        yield server
    finally:
        for w in workers:
            w.stop(timeout=10)
        server.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: pytest's temporary folder, or docs/screenshots/ when refreshing them."""
    return README_SHOTS if UPDATE_SHOTS else tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh context at the screenshot viewport; fails the test if the page's script throws."""
    # A browser zone other than UTC (and without summer time), so the UTC/local toggle visibly changes times.
    context = browser.new_context(viewport=VIEWPORT, color_scheme="light", timezone_id="Asia/Kolkata", locale="en-US")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    # A refused request (404 for a missing run, 400 for a bad start) logs "Failed to load resource": expected.
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


def start(server: ServerProcess, workflow_id: str, workflow_type: str, task_queue: str, input: Any) -> str:
    """Start a workflow through the API; its run id."""
    body = {"workflow_id": workflow_id, "workflow_type": workflow_type, "task_queue": task_queue, "input": input}
    r = api(server, "POST", "/workflows", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["run_id"])


def status_of(server: ServerProcess, workflow_id: str) -> str:
    r = api(server, "GET", "/workflows/describe", params={"workflow_id": workflow_id})
    return str(r.json()["execution"]["status"])


def run_path(workflow_id: str, run_id: str | None = None) -> str:
    path = "/namespaces/default/workflows/" + urllib.parse.quote(workflow_id, safe="")
    return path + ("/" + run_id if run_id else "")


def badge(page: Page) -> Any:
    """The run page's status badge."""
    return page.locator(".run-status .badge")


def screenshot(page: Page, folder: Path, name: str, full_page: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=full_page)


def digests(folder: Path) -> dict[str, str]:
    """Each file under ``folder`` (relative path) and the SHA-256 of its bytes."""
    return {
        str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(folder.rglob("*"))
        if f.is_file()
    }


# --- tests ----------------------------------------------------------------------------------------------


def test_hello_run_in_the_list_then_its_page_timeline_result_and_download(srv: ServerProcess, page: Page) -> None:
    started = run_cli(
        "workflow",
        "start",
        "--task-queue=hello-task-queue",
        "--type=sdk_example_workflow",
        "--workflow-id=hello-ui",
        "--input=" + json.dumps(HELLO_INPUT),
        address=srv.address,
    )
    assert started.returncode == 0, started.stderr
    m = re.search(r"RunId\s+(\S+)", started.stdout)
    assert m, started.stdout
    run_id = m.group(1)

    # The root redirects to the default namespace's workflows; the list refreshes until the run completes.
    page.goto(srv.ui_url + "/")
    expect(page).to_have_url(srv.ui_url + "/namespaces/default/workflows")
    row = page.locator("table.runs tbody tr", has=page.get_by_role("link", name="hello-ui", exact=True))
    expect(row.locator(".badge")).to_have_text("COMPLETED", timeout=15_000)
    expect(row).to_contain_text("sdk_example_workflow")
    expect(row).to_contain_text("hello-task-queue")
    expect(row).to_contain_text(run_id[:8])

    row.get_by_role("link", name="hello-ui", exact=True).click()
    expect(page).to_have_url(srv.ui_url + run_path("hello-ui", run_id))
    expect(badge(page)).to_have_text("COMPLETED")
    expect(page.locator("h1")).to_have_text("hello-ui")
    activity = page.locator(".timeline .tl-row-activity")
    expect(activity).to_have_count(1)
    expect(activity).to_contain_text("sdk_example_activity")
    expect(activity.locator(".tl-bar.tl-completed")).to_have_count(1)
    result = page.locator(".outcome-result")
    expect(result).to_contain_text('"platform": "mainspring"')
    expect(result).to_contain_text('"resource-efficient"')
    expect(page.locator(".history-card")).to_contain_text("Workflow completed")
    expect(page.locator(".run-actions button")).to_have_count(0)  # nothing to cancel any more

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download JSON").click()
    download = download_info.value
    assert download.suggested_filename == f"hello-ui_{run_id}_history.json"
    path = download.path()
    assert path is not None
    events = json.loads(Path(path).read_text())["events"]
    types = [e["event_type"] for e in events]
    assert types[0] == "WorkflowExecutionStarted"
    assert types[-1] == "WorkflowExecutionCompleted"
    assert "ActivityTaskCompleted" in types
    assert [e["event_id"] for e in events] == list(range(1, len(events) + 1))

    # Times are in UTC until the toggle asks for the browser's zone (remembered by the browser).
    start_cell = page.locator(".kv", has_text="Start")
    expect(start_cell).to_contain_text(" UTC")
    utc_text = start_cell.inner_text()
    page.locator("#tz-toggle").click()
    expect(page.locator("#tz-toggle")).to_have_text("Local")
    expect(page.locator(".kv", has_text="Start")).to_contain_text("UTC+5:30")
    assert page.locator(".kv", has_text="Start").inner_text() != utc_text
    page.reload()
    expect(page.locator(".kv", has_text="Start")).to_contain_text("UTC+5:30")
    page.locator("#tz-toggle").click()
    expect(page.locator("#tz-toggle")).to_have_text("UTC")

    # The workflow id alone shows its latest run, under the run's own address.
    page.goto(srv.ui_url + run_path("hello-ui"))
    expect(page).to_have_url(srv.ui_url + run_path("hello-ui", run_id))
    expect(badge(page)).to_have_text("COMPLETED")

    # The all-events view lists every event, and one opens to its JSON.
    page.get_by_role("tab", name="All events").click()
    rows = page.locator(".hrows-all .hrow")
    expect(rows).to_have_count(len(events))
    rows.last.locator("summary").click()
    expect(rows.last.locator(".json")).to_contain_text('"event_type": "WorkflowExecutionCompleted"')


def test_failed_run_shows_its_failure_and_the_cause(srv: ServerProcess, page: Page) -> None:
    start(srv, "fail-ui", "ui_failing_workflow", UI_QUEUE, "insufficient funds")
    page.goto(srv.ui_url + run_path("fail-ui"))
    expect(badge(page)).to_have_text("FAILED", timeout=15_000)
    failure = page.locator(".outcome-failure")
    expect(failure.locator(".failure-type").first).to_have_text("ActivityError")
    expect(failure.locator(".failure-message").first).to_contain_text("card declined: insufficient funds")
    cause = failure.locator(".failure-cause")
    expect(cause).to_have_count(1)
    expect(cause.locator(".failure-type")).to_have_text("CardDeclined")
    expect(cause.locator(".failure-message")).to_have_text("card declined: insufficient funds")
    expect(failure.locator(".caused-by-label")).to_have_text("Caused by")
    # The cause's stack trace opens on request.
    cause.get_by_text("Stack trace").click()
    expect(cause.locator(".stack-trace")).to_contain_text("ApplicationError")
    # The activity's bar is red; its compact history row says why.
    expect(page.locator(".tl-row-activity .tl-bar.tl-failed")).to_have_count(1)
    expect(page.locator(".hrow-activity")).to_contain_text("CardDeclined: card declined: insufficient funds")


def test_run_page_shows_search_attributes_and_memo(srv: ServerProcess, page: Page) -> None:
    body = {
        "workflow_id": "sa-ui",
        "workflow_type": "nobody_runs_this",
        "task_queue": "sa-ui-queue",
        "memo": {"owner": "ann"},
        "search_attributes": {"CustomKeywordField": "gold", "CustomIntField": 7},
    }
    r = api(srv, "POST", "/workflows", json=body)
    assert r.status_code == 201, r.text
    page.goto(srv.ui_url + run_path("sa-ui"))
    table = page.locator(".search-attributes")
    expect(table.locator("tr[data-attribute='CustomKeywordField'] td").nth(2)).to_have_text("gold", timeout=15_000)
    expect(table.locator("tr[data-attribute='CustomIntField'] td").nth(1)).to_have_text("Int")
    expect(table.locator("tr[data-attribute='CustomIntField'] td").nth(2)).to_have_text("7")
    expect(page.locator(".memo")).to_contain_text("ann")


def test_cancel_a_running_workflow_from_the_ui(srv: ServerProcess, page: Page) -> None:
    run_id = start(srv, "cancel-ui", "ui_sleeping_workflow", UI_QUEUE, {"seconds": 600})
    page.goto(srv.ui_url + run_path("cancel-ui", run_id))
    expect(badge(page)).to_have_text("RUNNING")
    expect(page.locator(".pending-timers")).to_contain_text("in 9 m", timeout=15_000)
    expect(page.locator(".tl-row-timer")).to_have_count(1)
    # Where it waits: asked of the worker that holds it, which names the workflow's own function.
    expect(page.locator(".stack-card")).to_contain_text("sleeping_workflow", timeout=15_000)

    page.get_by_role("button", name="Cancel", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Cancel this workflow?")
    dialog.get_by_role("textbox").fill("no longer needed")
    dialog.get_by_role("button", name="Cancel workflow").click()
    expect(dialog).to_have_count(0)
    expect(page.locator(".toast")).to_contain_text("Cancellation requested")
    expect(badge(page)).to_have_text("CANCELED", timeout=15_000)
    expect(page.locator(".run-actions button")).to_have_count(0)
    expect(page.locator(".history-card")).to_contain_text("reason: no longer needed")


def test_terminate_a_run_that_retries_an_activity_and_see_its_pending_activity(srv: ServerProcess, page: Page) -> None:
    run_id = start(srv, "terminate-ui", "ui_progress_workflow", UI_QUEUE, {"seconds": 600})
    page.goto(srv.ui_url + run_path("terminate-ui", run_id))
    expect(badge(page)).to_have_text("RUNNING")
    # Its activity failed once and now heartbeats in its second attempt.
    pending = page.locator(".pending-activities tbody tr")
    expect(pending).to_have_count(1)
    expect(pending.locator('td[data-label="Attempt"]')).to_have_text("2", timeout=15_000)
    expect(pending.locator('td[data-label="Last failure"]')).to_contain_text("Unavailable: upstream unavailable")
    expect(pending.locator('td[data-label="Last heartbeat"]')).to_contain_text('"step"')
    expect(page.locator(".tl-row-activity.tl-row-retried")).to_contain_text("ui_progress")
    expect(page.locator(".tl-row-activity .tl-bar.tl-running")).to_have_count(1)

    page.get_by_role("button", name="Terminate").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("textbox").fill("stuck on a bad deploy")
    dialog.get_by_role("button", name="Terminate workflow").click()
    expect(page.locator(".toast")).to_contain_text("Workflow terminated")
    expect(badge(page)).to_have_text("TERMINATED")
    expect(page.locator(".outcome-failure")).to_contain_text("stuck on a bad deploy")
    expect(page.locator(".pending-activities")).to_have_count(0)
    assert status_of(srv, "terminate-ui") == "TERMINATED"

    # Terminating again is refused by the server, whose message the dialog would show: checked through the API.
    r = api(srv, "POST", "/workflows/terminate", json={"workflow_id": "terminate-ui"})
    assert r.status_code == 400 and r.json()["code"] == "not_running"


def test_user_supplied_text_is_shown_as_text_and_never_runs(srv: ServerProcess, page: Page) -> None:
    run_id = start(srv, EVIL_ID, "ui_failing_workflow", UI_QUEUE, EVIL_INPUT)
    wait_until(lambda: status_of(srv, EVIL_ID) == "FAILED", 15, what="the workflow to fail")

    page.goto(srv.ui_url + "/namespaces/default/workflows")
    link = page.get_by_role("link", name=EVIL_ID, exact=True)
    expect(link).to_have_count(1)
    expect(link).to_have_text(EVIL_ID)
    link.click()
    expect(page).to_have_url(srv.ui_url + run_path(EVIL_ID, run_id))
    expect(page.locator("h1")).to_have_text(EVIL_ID)
    expect(page.locator(".io-grid .payload").first).to_contain_text(json.dumps(EVIL_INPUT))
    expect(page.locator(".outcome-failure .failure-cause .failure-message")).to_have_text(
        f"card declined: {EVIL_INPUT}"
    )
    page.get_by_role("tab", name="All events").click()
    page.locator(".hrows-all .hrow summary").first.click()
    expect(page.locator(".hrows-all .hrow .json").first).to_contain_text("onerror")
    # Nothing ran, and no element was made from the text.
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("main script").count() == 0
    assert page.title().startswith(EVIL_ID)


def test_start_a_workflow_from_the_form(srv: ServerProcess, page: Page) -> None:
    page.goto(srv.ui_url + "/namespaces/default/workflows")
    page.get_by_role("button", name="Start workflow").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Start a workflow")
    workflow_id = dialog.get_by_label("Workflow ID")
    assert workflow_id.input_value(), "the workflow id is prefilled with a suggestion"
    dialog.get_by_label("Workflow type").fill("sdk_example_workflow")
    dialog.get_by_label("Task queue").fill("hello-task-queue")
    workflow_id.fill("form-ui")
    source = dialog.get_by_label("Input (JSON)")
    submit = dialog.get_by_role("button", name="Start workflow")

    # Not JSON: caught here, before anything is sent.
    source.fill('{"code": "python",')
    submit.click()
    expect(dialog.locator(".field-error")).to_contain_text("Input is not valid JSON")
    expect(source).to_have_attribute("aria-invalid", "true")
    assert api(srv, "GET", "/workflows/describe", params={"workflow_id": "form-ui"}).status_code == 404

    # JSON of the wrong shape: the server checks it against the schema the worker announced, and its
    # message (which names the missing field) is shown as it is.
    wrong = {"code": "python"}
    source.fill(json.dumps(wrong))
    submit.click()
    body = {"workflow_id": "form-ui", "workflow_type": "sdk_example_workflow", "task_queue": "hello-task-queue"}
    refused = api(srv, "POST", "/workflows", json={**body, "input": wrong})
    assert refused.status_code == 400
    message = refused.json()["message"]
    assert "'kind'" in message
    expect(dialog.locator(".form-error")).to_have_text(message)
    expect(dialog.locator(".field-error")).to_be_hidden()

    source.fill(json.dumps(HELLO_INPUT))
    submit.click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page).to_have_url(re.compile(re.escape(srv.ui_url + run_path("form-ui")) + r"/[0-9a-f-]{36}$"))
    expect(badge(page)).to_have_text("COMPLETED", timeout=15_000)
    expect(page.locator(".outcome-result")).to_contain_text('"kind": "worker"')


def test_task_queues_show_the_running_workers_and_the_namespace_switcher(srv: ServerProcess, page: Page) -> None:
    queues = api(srv, "GET", "/task-queues").json()["task_queues"]
    hello = next(q for q in queues if q["name"] == "hello-task-queue")
    identity = hello["workers"][0]["identity"]

    page.goto(srv.ui_url + "/namespaces/default/workflows")
    page.get_by_role("link", name="Task queues").click()
    expect(page).to_have_url(srv.ui_url + "/namespaces/default/task-queues")
    card = page.locator('section.queue[data-queue="hello-task-queue"]')
    expect(card).to_contain_text(identity)
    expect(card).to_contain_text("sdk_example_workflow")
    expect(card).to_contain_text("sdk_example_activity")
    expect(card.locator('td[data-label="Last seen"]')).to_contain_text(re.compile(r"just now|s ago"))
    expect(card).to_contain_text("WebSocket")
    ui_card = page.locator(f'section.queue[data-queue="{UI_QUEUE}"]')
    expect(ui_card).to_contain_text("ui_progress_workflow")
    expect(ui_card).to_contain_text("0 activity tasks")

    # One queue on its own page.
    card.get_by_role("link", name="hello-task-queue").click()
    expect(page).to_have_url(srv.ui_url + "/namespaces/default/task-queues/hello-task-queue")
    expect(page.locator("section.queue")).to_have_count(1)

    # Another namespace: the switcher lists it and goes to the same page there.
    created = run_cli("namespace", "create", "ui-other", address=srv.address)
    assert created.returncode == 0, created.stderr
    page.goto(srv.ui_url + "/namespaces/default/task-queues")
    page.locator("#namespace-select").select_option("ui-other")
    expect(page).to_have_url(srv.ui_url + "/namespaces/ui-other/task-queues")
    expect(page.locator(".queues")).to_contain_text("No workers are polling")
    page.get_by_role("link", name="Workflows", exact=True).click()
    expect(page).to_have_url(srv.ui_url + "/namespaces/ui-other/workflows")
    expect(page.locator(".empty")).to_contain_text("No workflows yet")


def test_list_filters_paging_and_screenshots(
    srv: ServerProcess, browser: Browser, page: Page, shots: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    docs_before = digests(ROOT / "docs")
    order_run = start(srv, "order-1001", "order_workflow", ORDER_QUEUE, {"order_id": "1001", "items": 3})
    start(srv, "order-1002", "order_workflow", ORDER_QUEUE, {"order_id": "1002", "items": 1})
    start(srv, "greeting-7", "sdk_example_workflow", "hello-task-queue", HELLO_INPUT)
    start(srv, "nightly-report", "ui_sleeping_workflow", UI_QUEUE, {"seconds": 3600})
    start(srv, "payment-42", "ui_failing_workflow", UI_QUEUE, "expired card")
    for wid in ("order-1001", "order-1002", "greeting-7"):
        wait_until(lambda wid=wid: status_of(srv, wid) == "COMPLETED", 20, what=f"{wid} to complete")
    wait_until(lambda: status_of(srv, "payment-42") == "FAILED", 20, what="payment-42 to fail")

    # Filters go into the address, and the list follows them.
    page.goto(srv.ui_url + "/namespaces/default/workflows")
    rows = page.locator("table.runs tbody tr")
    expect(rows.first).to_be_visible()
    page.get_by_label("Status").select_option("FAILED")
    expect(page).to_have_url(re.compile(r"status=FAILED"))
    expect(rows.filter(has_text="payment-42")).to_have_count(1)
    expect(rows.locator(".badge").filter(has_not_text="FAILED")).to_have_count(0)
    page.get_by_role("button", name="Clear").click()
    page.get_by_label("Workflow ID prefix").fill("order-")
    expect(page).to_have_url(re.compile(r"prefix=order-"))
    expect(rows).to_have_count(2)
    page.reload()  # the filter survives a reload: it is in the address
    expect(page.get_by_label("Workflow ID prefix")).to_have_value("order-")
    expect(rows).to_have_count(2)

    # Paging with the server's token: one run a page, newest first.
    page.goto(srv.ui_url + "/namespaces/default/workflows?prefix=order-&limit=1")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("order-1002")
    page.get_by_role("button", name="Next").click()
    expect(page).to_have_url(re.compile(r"page="))
    expect(rows.first).to_contain_text("order-1001")
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    page.get_by_role("button", name="Previous").click()
    expect(rows.first).to_contain_text("order-1002")

    page.goto(srv.ui_url + "/namespaces/default/workflows")
    expect(rows.filter(has_text="nightly-report").locator(".badge")).to_have_text("RUNNING")
    expect(rows.filter(has_text="order-1001").locator(".badge")).to_have_text("COMPLETED")
    screenshot(page, shots, "workflows.png")

    # The order example's run: a retried activity and a timer on the timeline.
    page.goto(srv.ui_url + run_path("order-1001", order_run))
    expect(badge(page)).to_have_text("COMPLETED")
    charge = page.locator(".tl-row-activity", has_text="charge")
    expect(charge).to_have_class(re.compile(r"tl-row-retried"))
    expect(charge).to_contain_text("\N{MULTIPLICATION SIGN}2")  # two attempts
    expect(charge.locator(".tl-wait.tl-retry")).to_have_count(1)
    expect(page.locator(".tl-row-activity")).to_have_count(5)
    expect(page.locator(".tl-row-timer")).to_have_count(1)
    # A bar opens its events in the history.
    charge.click()
    opened = page.locator(".hrows-compact .hrow-activity[open]")
    expect(opened).to_have_count(1)
    expect(opened).to_contain_text("GatewayTimeout")  # the first attempt's failure, in ActivityTaskStarted
    page.locator(".hrow-activity[open] summary").click()  # closed again for the screenshot
    page.evaluate("window.scrollTo(0, 0)")
    page.mouse.move(0, 0)  # no hover highlight in the picture
    screenshot(page, shots, "run.png", full_page=True)

    # At phone width the list becomes cards and nothing needs sideways scrolling.
    phone = browser.new_context(viewport=PHONE, color_scheme="light", timezone_id="UTC", is_mobile=True)
    try:
        pg = phone.new_page()
        pg.goto(srv.ui_url + "/namespaces/default/workflows")
        expect(pg.locator("table.runs tbody tr").first).to_be_visible()
        expect(pg.locator("table.runs thead")).to_be_hidden()
        assert pg.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(pg, shots, "workflows-phone.png")
        pg.goto(srv.ui_url + run_path("order-1001", order_run))
        expect(pg.locator(".run-status .badge")).to_have_text("COMPLETED")
        assert pg.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(pg, shots, "run-phone.png")
    finally:
        phone.close()

    # The pictures were taken, and (unless refreshing them) into pytest's temporary folder: a test run leaves
    # the tracked docs/ as it found them.
    assert all((shots / name).stat().st_size > 0 for name in SHOT_NAMES)
    if not UPDATE_SHOTS:
        assert shots.is_relative_to(tmp_path_factory.getbasetemp())
        assert digests(ROOT / "docs") == docs_before, "the test run changed files under docs/"
