"""The web UI's Schedules page in a real headless Chromium against a real server: the namespace's schedules with
their spec, next run times and recent actions, and Pause / Unpause / Trigger, which the server applies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from support import ServerProcess, chromium

pytestmark = pytest.mark.slow

expect.set_options(timeout=15_000)
NS = "/api/v1/namespaces/default"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("ui-schedules") / "mainspring.db").start()
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


def _describe(server: ServerProcess, schedule_id: str) -> dict[str, Any]:
    r = httpx.get(server.url + NS + "/schedules/describe", params={"schedule_id": schedule_id}, timeout=10)
    r.raise_for_status()
    answer: dict[str, Any] = r.json()
    return answer


def test_schedules_page_lists_next_times_and_pauses_unpauses_and_triggers(srv: ServerProcess, page: Page) -> None:
    body = {
        "schedule_id": "nightly",
        "schedule": {
            "action": {"workflow_id": "nightly", "workflow_type": "report", "task_queue": "reports", "input": 1},
            "spec": {"cron_expressions": ["0 3 * * *"], "time_zone_name": "Europe/Paris"},
        },
    }
    assert httpx.post(srv.url + NS + "/schedules", json=body, timeout=10).status_code == 201
    page.goto(srv.ui_url + "/namespaces/default/workflows")
    page.get_by_role("link", name="Schedules").click()
    expect(page).to_have_url(srv.ui_url + "/namespaces/default/schedules")
    card = page.locator('[data-schedule="nightly"]')
    expect(card).to_contain_text("cron 0 3 * * * (Europe/Paris)")
    expect(card.locator(".next-times li")).to_have_count(5)
    expect(card.locator("[data-state]")).to_have_text("Running")

    card.locator('[data-action="schedule-pause"]').click()
    expect(card.locator("[data-state]")).to_have_text("Paused")
    expect(card).to_contain_text("None while paused.")
    assert _describe(srv, "nightly")["schedule"]["state"] == {
        "note": "Paused from the web UI",
        "paused": True,
        "limited_actions": False,
        "remaining_actions": 0,
    }
    card.locator('[data-action="schedule-unpause"]').click()
    expect(card.locator("[data-state]")).to_have_text("Running")

    card.locator('[data-action="schedule-trigger"]').click()
    row = card.locator(".recent-actions tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("a")).to_contain_text("nightly-")
    assert _describe(srv, "nightly")["info"]["num_actions"] == 1
