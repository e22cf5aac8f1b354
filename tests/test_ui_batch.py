"""The web UI's batch operations in a real headless Chromium against a real server: runs ticked on the workflows
page (or every run the filters match) are terminated, cancelled, signalled or reset by a batch job, with the
reason (and the signal's payload, or the reset point) given, and the job is listed under the table with its
progress."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from support import ServerProcess, can_worker, chromium, running, wait_until

pytestmark = pytest.mark.slow

expect.set_options(timeout=15_000)
NS = "/api/v1/namespaces/default"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("ui-batch") / "mainspring.db").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    # The browser's own line for a refused request (a list query that does not parse gets its 400) is not the
    # page's error; anything else the page logs is.
    refused = "Failed to load resource: the server responded with a status of 400"
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" and refused not in m.text else None)
    try:
        yield pg
    finally:
        context.close()
    assert not errors, f"the page logged errors: {errors}"


def _start(server: ServerProcess, workflow_type: str, n: int) -> list[str]:
    ids = [f"{workflow_type}-{i}" for i in range(n)]
    for wid in ids:
        body = {"workflow_id": wid, "workflow_type": workflow_type, "task_queue": "tq"}
        assert httpx.post(server.url + NS + "/workflows", json=body, timeout=10).status_code in (200, 201)
    return ids


def _describe(server: ServerProcess, wid: str) -> dict[str, Any]:
    r = httpx.get(server.url + NS + "/workflows/describe", params={"workflow_id": wid}, timeout=10)
    r.raise_for_status()
    answer: dict[str, Any] = r.json()
    return answer


def _events(server: ServerProcess, wid: str) -> list[dict[str, Any]]:
    r = httpx.get(server.url + NS + "/workflows/history", params={"workflow_id": wid}, timeout=10)
    r.raise_for_status()
    events: list[dict[str, Any]] = r.json()["events"]
    return events


def _terminated_reason(server: ServerProcess, wid: str) -> str | None:
    r = httpx.get(server.url + NS + "/workflows/history", params={"workflow_id": wid}, timeout=10)
    for e in r.json()["events"]:
        if e["event_type"] == "WorkflowExecutionTerminated":
            return str(e["attributes"]["reason"])
    return None


def test_selected_runs_are_terminated_and_all_matching_cancelled_by_batch_jobs(srv: ServerProcess, page: Page) -> None:
    picked = _start(srv, "uib", 5)
    others = _start(srv, "bystander", 2)
    page.goto(srv.ui_url + "/namespaces/default/workflows?type=uib")
    rows = page.locator("table.runs tbody tr")
    expect(rows).to_have_count(5)
    bar = page.locator(".selection-bar")
    expect(bar).to_be_hidden()

    # Two rows ticked (newest first: uib-4 and uib-3), terminated with a reason.
    page.get_by_label("Select uib-4").check()
    page.get_by_label("Select uib-3").check()
    expect(bar).to_contain_text("2 runs selected.")
    page.locator('[data-action="batch-terminate"]').click()
    dialog = page.get_by_role("dialog")
    dialog.locator("textarea").fill("ui clean-up")
    dialog.get_by_role("button", name="Terminate workflows").click()
    jobs = page.locator(".batch-jobs tbody tr")
    expect(jobs).to_have_count(1)
    expect(jobs.first).to_contain_text("terminate")
    expect(jobs.first).to_contain_text("2 / 2")
    expect(jobs.first).to_contain_text("COMPLETED")
    for wid in ("uib-4", "uib-3"):
        assert _describe(srv, wid)["execution"]["status"] == "TERMINATED"
        assert _terminated_reason(srv, wid) == "ui clean-up"
    expect(bar).to_be_hidden()

    # Every run that matches the filters (uib only), cancelled: the three still running are asked, the two
    # terminated ones skipped, the other type untouched.
    page.locator("table.runs thead input[type=checkbox]").check()
    page.locator('[data-action="select-all-matching"]').click()
    expect(bar).to_contain_text("Every run that matches the filters is selected.")
    page.locator('[data-action="batch-cancel"]').click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel workflows").click()
    expect(jobs).to_have_count(2)
    expect(jobs.first).to_contain_text("cancel")
    expect(jobs.first).to_contain_text("3 done, 2 skipped, 0 failed")
    wait_until(lambda: all(_describe(srv, w)["cancel_requested"] for w in picked[:3]), 10, what="cancellations")
    for wid in others:
        d = _describe(srv, wid)
        assert d["execution"]["status"] == "RUNNING" and not d["cancel_requested"], d


def test_selected_runs_are_signalled_with_a_payload_and_reset_by_batch_jobs(
    srv: ServerProcess, page: Page, tmp_path: Path
) -> None:
    worker = can_worker(srv, "tq-ui-reset", tmp_path).start()
    with running(worker):
        ids = [f"uibs-{i}" for i in range(3)]
        for wid in ids:
            body = {
                "workflow_id": wid,
                "workflow_type": "sleeper",
                "task_queue": "tq-ui-reset",
                "input": {"seconds": 3600},
            }
            assert httpx.post(srv.url + NS + "/workflows", json=body, timeout=10).status_code in (200, 201)
        for wid in ids:
            wait_until(
                lambda w=wid: any(e["event_type"] == "TimerStarted" for e in _events(srv, w)), 20, what=f"{wid} timer"
            )
        page.goto(srv.ui_url + "/namespaces/default/workflows?type=sleeper")
        rows = page.locator("table.runs tbody tr")
        expect(rows).to_have_count(3)
        bar = page.locator(".selection-bar")
        jobs = page.locator(".batch-jobs tbody tr")
        before = jobs.count()

        # A signal with a JSON payload to two of them; a payload that is not JSON is refused in the dialog.
        page.get_by_label("Select uibs-2").check()
        page.get_by_label("Select uibs-1").check()
        page.locator('[data-action="batch-signal"]').click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Signal name").fill("poke")
        dialog.get_by_label("Payload (JSON)").fill("{nope")
        dialog.get_by_role("button", name="Signal workflows").click()
        expect(dialog).to_contain_text("not valid JSON")
        dialog.get_by_label("Payload (JSON)").fill('{"n": 7}')
        dialog.get_by_role("button", name="Signal workflows").click()
        expect(jobs).to_have_count(before + 1)
        expect(jobs.first).to_contain_text("signal")
        expect(jobs.first).to_contain_text("2 done, 0 skipped, 0 failed")
        for wid in ("uibs-2", "uibs-1"):
            signals = [e for e in _events(srv, wid) if e["event_type"] == "WorkflowExecutionSignaled"]
            assert len(signals) == 1, signals
            assert signals[0]["attributes"]["signal_name"] == "poke", signals
        assert not [e for e in _events(srv, "uibs-0") if e["event_type"] == "WorkflowExecutionSignaled"]
        expect(bar).to_be_hidden()

        # Every sleeper reset to its first workflow task, with a reason: each gets a new run, linked.
        page.locator("table.runs thead input[type=checkbox]").check()
        page.locator('[data-action="select-all-matching"]').click()
        page.locator('[data-action="batch-reset"]').click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("its first workflow task (the whole run again)").check()
        dialog.locator("textarea").fill("redo from the top")
        dialog.get_by_role("button", name="Reset workflows").click()
        expect(jobs).to_have_count(before + 2)
        expect(jobs.first).to_contain_text("reset")
        expect(jobs.first).to_contain_text("3 done, 0 skipped, 0 failed")
        for wid in ids:
            d = _describe(srv, wid)
            assert d["execution"]["status"] == "RUNNING" and d["reset_from"] is not None, d


def test_a_list_query_filters_the_list_counts_show_each_status_and_the_query_stays_in_the_url(
    srv: ServerProcess, page: Page
) -> None:
    for i in range(5):
        body = {
            "workflow_id": f"uiq-{i}",
            "workflow_type": "uiq",
            "task_queue": "tq",
            "search_attributes": {"CustomKeywordField": "gold" if i < 3 else "tin"},
        }
        assert httpx.post(srv.url + NS + "/workflows", json=body, timeout=10).status_code in (200, 201)
    r = httpx.post(srv.url + NS + "/workflows/terminate", json={"workflow_id": "uiq-0", "reason": "x"}, timeout=10)
    assert r.status_code == 200, r.text
    page.goto(srv.ui_url + "/namespaces/default/workflows?type=uiq")
    rows = page.locator("table.runs tbody tr")
    expect(rows).to_have_count(5)
    counts = page.locator(".status-counts")
    expect(counts).to_contain_text("5 runs")
    expect(counts.locator('[data-status="RUNNING"]')).to_contain_text("4")
    expect(counts.locator('[data-status="TERMINATED"]')).to_contain_text("1")

    # A query in the filter language, with the type filter: three gold runs, the counts follow.
    box = page.get_by_label("List query")
    box.fill("CustomKeywordField = 'gold'")
    box.press("Enter")
    expect(rows).to_have_count(3)
    expect(page).to_have_url(re.compile(r"query=CustomKeywordField"))
    expect(counts).to_contain_text("3 runs")
    expect(counts.locator('[data-status="RUNNING"]')).to_contain_text("2")

    # A chip filters by its status; the URL keeps both, and a reload shows the same view.
    counts.locator('[data-status="TERMINATED"]').click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("uiq-0")
    expect(page).to_have_url(re.compile(r"status=TERMINATED"))
    page.reload()
    expect(rows).to_have_count(1)
    expect(page.get_by_label("List query")).to_have_value("CustomKeywordField = 'gold'")

    # A query that does not parse is said under the box, with where; no rows are shown for it.
    box = page.get_by_label("List query")
    box.fill("CustomKeywordField = ")
    box.press("Enter")
    error = page.locator(".query-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("column")
    expect(rows).to_have_count(0)
    box.fill("CustomKeywordField = 'tin'")
    box.press("Enter")
    expect(error).to_be_hidden()
    page.get_by_label("Status").select_option("")
    expect(rows).to_have_count(2)
