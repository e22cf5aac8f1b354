"""The web UI's run page shows a run's relationships: a parent lists its child workflows (type, status, run),
each a link to the child's run page, and a child links back to its parent. Checked in a real headless
Chromium against a real server and worker (``tests/workers/children_worker.py``).
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from support import ServerProcess, WorkerProcess, chromium, wait_until, watched_page

pytestmark = pytest.mark.slow

WORKER = Path(__file__).resolve().parent / "workers" / "children_worker.py"
QUEUE = "children-task-queue"

expect.set_options(timeout=15_000)


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "mainspring.db").start()
    worker = WorkerProcess(WORKER, server.address, log_path=tmp_path / "children.log")
    try:
        worker.start(wait_ready=False)
        wait_until(lambda: "polling task queue" in worker.log(), 30, what="the worker to start")
        yield server
    finally:
        worker.stop(timeout=10)
        server.stop()


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium() as browser:
        yield from watched_page(browser, {"width": 1440, "height": 900})


def _status(server: ServerProcess, workflow_id: str) -> str:
    r = httpx.get(
        f"{server.url}/api/v1/namespaces/default/workflows/describe", params={"workflow_id": workflow_id}, timeout=10
    )
    r.raise_for_status()
    return str(r.json()["execution"]["status"])


def test_the_run_page_links_a_parent_and_its_children_both_ways(srv: ServerProcess, page: Page) -> None:
    wid = f"fam-{uuid.uuid4().hex[:8]}"
    body = {"workflow_id": wid, "workflow_type": "family_parent", "task_queue": QUEUE, "input": "ann"}
    r = httpx.post(f"{srv.url}/api/v1/namespaces/default/workflows", json=body, timeout=10)
    assert r.status_code == 201, r.text
    wait_until(lambda: _status(srv, wid) == "COMPLETED", 30, what="the parent to complete")

    page.goto(srv.ui_url + "/namespaces/default/workflows/" + urllib.parse.quote(wid, safe=""))
    card = page.locator("section.relationships")
    expect(card).to_contain_text("2 children")
    rows = card.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(f"{wid}-a")
    expect(rows.nth(0)).to_contain_text("family_child")
    expect(rows.nth(0)).to_contain_text("COMPLETED")

    rows.nth(1).get_by_role("link", name=f"{wid}-b").click()
    expect(page.locator("h1.run-title")).to_have_text(f"{wid}-b")
    parent_link = page.locator("section.relationships .relationship-parent a")
    expect(parent_link).to_have_text(wid)
    parent_link.click()
    expect(page.locator("h1.run-title")).to_have_text(wid)
