"""The web UI's batch operations in a real headless Chromium against a real server: runs ticked on the workflows
page (or every run the filters match) are terminated or cancelled by a batch job, with the reason given, and the
job is listed under the table with its progress."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from support import ServerProcess, chromium, wait_until

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
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
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
