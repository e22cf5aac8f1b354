"""Details of the web UI found by looking, checked in a real headless Chromium at 1440x900 and at phone
width (390x844), against a real server and the UI test worker (``tests/workers/ui_worker.py``):

- a pending workflow task says why it waits (no worker polls the queue, or none there runs the type) and
  the page never shows a literal ``null``;
- "1 workflow task", not "1 workflow tasks";
- a timer is named by its duration ("Timer 1s"), not by its id;
- a canceled run gets a neutral card with its reason, not a red failure card with "CancelledError";
- text over a retried activity's light stripes is legible (contrast >= 4.5:1);
- the summary card fills every row (no empty column), and list rows of open and closed runs have one height;
- a run's build (``Worker(build_id=...)``) is on its page, and a task queue lists the builds polling it.

Screenshots go to a temporary folder (never into docs/).
"""

from __future__ import annotations

import re
import tempfile
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from support import ServerProcess, WorkerProcess, chromium, wait_until, watched_page

pytestmark = pytest.mark.slow

UI_WORKER = Path(__file__).resolve().parent / "workers" / "ui_worker.py"
UI_QUEUE = "ui-task-queue"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SHOTS = Path(tempfile.gettempdir()) / f"mainspring-ui-details-{uuid.uuid4().hex[:8]}"

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("ui-details")
    server = ServerProcess(tmp / "mainspring.db").start()
    worker = WorkerProcess(UI_WORKER, server.address, log_path=tmp / "ui.log")
    try:
        worker.start(wait_ready=False)
        wait_until(lambda: "polling task queue" in worker.log(), 30, what="the UI worker to start")
        yield server
    finally:
        worker.stop(timeout=10)
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def _page(browser: Browser, viewport: dict[str, int]) -> Iterator[Page]:
    yield from watched_page(browser, viewport, color_scheme="light")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from _page(browser, DESKTOP)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    yield from _page(browser, PHONE)


def api(server: ServerProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{server.url}/api/v1/namespaces/default{path}", timeout=10, **kwargs)


def start(server: ServerProcess, workflow_type: str, input: Any, task_queue: str = UI_QUEUE) -> tuple[str, Any]:
    """Start a workflow through the API; its id and the start's answer."""
    wid = f"d-{uuid.uuid4().hex[:10]}"
    body = {"workflow_id": wid, "workflow_type": workflow_type, "task_queue": task_queue, "input": input}
    r = api(server, "POST", "/workflows", json=body)
    assert r.status_code == 201, r.text
    return wid, r.json()


def status_of(server: ServerProcess, workflow_id: str) -> str:
    return str(
        api(server, "GET", "/workflows/describe", params={"workflow_id": workflow_id}).json()["execution"]["status"]
    )


def run_path(workflow_id: str) -> str:
    return "/namespaces/default/workflows/" + urllib.parse.quote(workflow_id, safe="")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"] if page.viewport_size else True, f"the page is {width}px wide"


def main_text(page: Page) -> str:
    return str(page.locator("main, #app").first.inner_text())


# --- tests ----------------------------------------------------------------------------------------------


def test_a_pending_workflow_task_says_why_it_waits_and_no_null(srv: ServerProcess, page: Page, phone: Page) -> None:
    queue = f"nobody-{uuid.uuid4().hex[:8]}"
    lonely, answer = start(srv, "ui_sleeping_workflow", {"seconds": 1}, task_queue=queue)
    assert "warning" not in answer  # no worker of that queue announced anything: nothing to compare with
    for pg, name in ((page, "desk"), (phone, "phone")):
        pg.goto(srv.ui_url + run_path(lonely))
        card = pg.locator(".pending-wt")
        expect(card.locator(".wt-hint")).to_have_text("no worker polling this task queue")
        expect(card).not_to_contain_text("null")
        assert not re.search(r"\bnull\b", main_text(pg)), main_text(pg)
        no_sideways_scroll(pg)
        shot(pg, f"pending-wt-{name}.png")

    typo, answer = start(srv, "ui_sleepnig_workflow", {"seconds": 1})
    assert "Did you mean 'ui_sleeping_workflow'?" in answer["warning"]
    page.goto(srv.ui_url + run_path(typo))
    expect(page.locator(".pending-wt .wt-hint")).to_contain_text("no worker here runs this type")
    expect(page.locator(".pending-wt .wt-hint")).to_contain_text("'ui_sleeping_workflow'")


def test_task_queue_backlog_of_one_is_singular(srv: ServerProcess, page: Page) -> None:
    queue = f"backlog-{uuid.uuid4().hex[:8]}"
    start(srv, "ui_sleeping_workflow", {"seconds": 1}, task_queue=queue)
    page.goto(srv.ui_url + "/namespaces/default/task-queues/" + queue)
    chips = page.locator(".queue .chip")
    expect(chips.first).to_have_text("1 workflow task")
    expect(chips.nth(1)).to_have_text("0 activity tasks")


def test_a_timer_is_named_by_its_duration(srv: ServerProcess, page: Page) -> None:
    wid, _ = start(srv, "ui_sleeping_workflow", {"seconds": 1})
    wait_until(lambda: status_of(srv, wid) == "COMPLETED", 30, what="the sleeping workflow to complete")
    page.goto(srv.ui_url + run_path(wid))
    expect(page.locator(".tl-row-timer .tl-name")).to_have_text("Timer 1s")
    expect(page.locator(".history-card")).to_contain_text("Timer 1s")
    shot(page, "timer.png")


def test_a_canceled_run_gets_a_neutral_card_with_its_reason(srv: ServerProcess, page: Page, phone: Page) -> None:
    wid, _ = start(srv, "ui_sleeping_workflow", {"seconds": 600})
    wait_until(
        lambda: (
            api(srv, "POST", "/workflows/cancel", json={"workflow_id": wid, "reason": "not needed"}).status_code == 200
        ),
        10,
        what="the cancel",
    )
    wait_until(lambda: status_of(srv, wid) == "CANCELED", 30, what="the run to be canceled")
    for pg, name in ((page, "desk"), (phone, "phone")):
        pg.goto(srv.ui_url + run_path(wid))
        card = pg.locator(".outcome-canceled")
        expect(card).to_contain_text("not needed")
        expect(card.locator("h2")).to_have_text("Canceled")
        expect(pg.locator(".outcome-failure")).to_have_count(0)
        expect(card).not_to_contain_text("CancelledError")
        red = card.locator(".section-head").evaluate("e => getComputedStyle(e).backgroundColor")
        assert red != pg.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--red-bg')"), red
        no_sideways_scroll(pg)
        shot(pg, f"canceled-{name}.png")


_CONTRAST = """
(el) => {
  // "rgb(1, 2, 3)", "rgba(1, 2, 3, 0.5)", or (color-mix) "color(srgb 0.1 0.2 0.3 / 0.88)" in 0..1.
  const rgb = (s) => {
    const n = (s.match(/[\\d.]+/g) || []).map(Number);
    if (!s.startsWith("color(")) return n;
    return n.map((v, i) => (i < 3 ? v * 255 : v));
  };
  const lum = ([r, g, b]) => {
    const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const pill = el.firstElementChild || el;
  const fg = rgb(getComputedStyle(el).color);
  const bgParts = rgb(getComputedStyle(pill).backgroundColor);
  // A translucent pill over the page's white card: blend it.
  const a = bgParts.length > 3 ? bgParts[3] : (bgParts.length === 3 ? 1 : 0);
  const bg = [0, 1, 2].map((i) => (bgParts[i] ?? 255) * a + 255 * (1 - a));
  const [l1, l2] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (l1 + 0.05) / (l2 + 0.05);
}
"""


def test_text_over_retry_stripes_is_legible(srv: ServerProcess, page: Page) -> None:
    wid, _ = start(srv, "ui_progress_workflow", {"seconds": 600})
    page.goto(srv.ui_url + run_path(wid))
    expect(page.locator(".tl-row-activity.tl-row-retried")).to_have_count(1)
    label = page.locator(".tl-row-activity .tl-inbar, .tl-row-activity .tl-text").first
    expect(label).to_contain_text("2 attempts")
    ratio = label.evaluate(_CONTRAST)
    assert ratio >= 4.5, f"contrast {ratio:.2f}:1 over the retry stripes"
    shot(page, "retry-stripes.png")
    api(srv, "POST", "/workflows/terminate", json={"workflow_id": wid, "reason": "test over"})


def test_summary_rows_are_full_and_list_rows_have_one_height(srv: ServerProcess, page: Page) -> None:
    done, _ = start(srv, "ui_sleeping_workflow", {"seconds": 0.1})
    wait_until(lambda: status_of(srv, done) == "COMPLETED", 30, what="the workflow to complete")
    running, _ = start(srv, "ui_sleeping_workflow", {"seconds": 600})

    for wid in (done, running):
        page.goto(srv.ui_url + run_path(wid))
        expect(page.locator(".summary .kv").first).to_be_visible()
        boxes = page.locator(".summary").evaluate(
            """(dl) => { const r = dl.getBoundingClientRect();
                 return { right: r.right, items: [...dl.children].map((c) => { const b = c.getBoundingClientRect();
                   return [Math.round(b.top), b.right]; }) }; }"""
        )
        rows: dict[int, float] = {}
        for top, right in boxes["items"]:
            rows[top] = max(rows.get(top, 0.0), right)
        assert len(rows) >= 2
        for top, right in rows.items():
            assert right >= boxes["right"] - 2, (
                f"the summary row at y={top} leaves an empty column ({right} of {boxes['right']})"
            )

    page.goto(srv.ui_url + "/namespaces/default/workflows")
    rows_of = page.locator(".table.runs tbody tr")
    expect(page.locator(f'.table.runs tbody tr:has(a:text-is("{running}"))')).to_have_count(1)
    expect(page.locator(f'.table.runs tbody tr:has(a:text-is("{done}"))')).to_have_count(1)
    heights = rows_of.evaluate_all("(rows) => rows.map((r) => r.getBoundingClientRect().height)")
    assert len(heights) >= 2
    # Within a pixel (the last row has no bottom border); a row without a second line was ~16 px shorter.
    assert max(heights) - min(heights) <= 1.5, f"list rows of different heights: {heights}"
    shot(page, "list.png")
    api(srv, "POST", "/workflows/terminate", json={"workflow_id": running, "reason": "test over"})


def test_a_runs_build_and_the_builds_of_its_queue_are_shown(srv: ServerProcess, page: Page, tmp_path: Path) -> None:
    queue = f"builds-{uuid.uuid4().hex[:8]}"
    worker = WorkerProcess(
        UI_WORKER, srv.address, args=["--task-queue", queue, "--build-id", "7.1"], log_path=tmp_path / "b.log"
    )
    try:
        worker.start(wait_ready=False)
        wait_until(lambda: "polling task queue" in worker.log(), 30, what="the build worker to start")
        wid, _ = start(srv, "ui_sleeping_workflow", {"seconds": 600}, task_queue=queue)

        def described() -> Any:
            return api(srv, "GET", "/workflows/describe", params={"workflow_id": wid}).json().get("build_id")

        wait_until(described, 30, what="the run's first workflow task on build 7.1")
        page.goto(srv.ui_url + run_path(wid))
        build = page.locator(".summary .build")
        expect(build).to_contain_text("7.1")
        expect(build).to_contain_text("PINNED")
        page.goto(srv.ui_url + "/namespaces/default/task-queues/" + queue)
        row = page.locator('.builds-list li[data-build="7.1"]')
        expect(row).to_contain_text("1 worker")
        expect(row).to_contain_text("new runs go here")
        expect(page.locator("table.workers")).to_contain_text("7.1")
        shot(page, "builds.png")
    finally:
        worker.stop(timeout=10)
