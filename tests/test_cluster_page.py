"""The servers sharing a store, as a running server reads them (``GET /api/v1/cluster``) and as the web UI's
Cluster page (``/cluster``) shows them, checked in a real headless Chromium against real server processes:

- on a SQLite file: the one server holding it, active, marked as this server, and no leases;
- on PostgreSQL with a standby: the holder active, the standby standby, one live shard lease owned by the
  holder; after the holder is SIGKILLed the standby takes over, and its page shows itself active and the
  killed server gone (not seen within a lease), with the lease's epoch moved on;
- a server stopped cleanly leaves the list (it must not look like a standby).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from mainspring.api.models import ClusterResponse
from support import ON_POSTGRES, ServerProcess, chromium, running, wait_until, watched_page

pytestmark = pytest.mark.slow

expect.set_options(timeout=15_000)


def cluster(server: ServerProcess) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/api/v1/cluster", timeout=10)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    ClusterResponse.model_validate(body)  # what the OpenAPI document promises
    return body


def statuses(view: dict[str, Any]) -> dict[str, str]:
    return {s["address"]: s["status"] for s in view["servers"]}


def row(page: Page, server: ServerProcess) -> Any:
    """The servers table's row of ``server``."""
    return page.locator(f'table.servers tr[data-address="{server.address}"]')


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from watched_page(browser, {"width": 1440, "height": 900})


def test_a_sqlite_server_is_the_only_one_and_the_page_says_why(tmp_path: Path, page: Page) -> None:
    srv = ServerProcess(tmp_path / "one.db")
    with running(srv):
        srv.start()
        view = cluster(srv)
        if ON_POSTGRES:  # the file stands for a PostgreSQL database: one server on it, holding its lease
            assert view["kind"] == "postgresql" and view["shared"] is True
            assert [(s["address"], s["status"], s["this"]) for s in view["servers"]] == [(srv.address, "active", True)]
            return
        assert view["kind"] == "sqlite" and view["shared"] is False and view["lease_seconds"] is None
        assert view["store"].endswith("one.db") and view["shards"] == []
        [me] = view["servers"]
        assert (me["address"], me["status"], me["this"]) == (srv.address, "active", True)
        assert me["started_at"] <= me["seen_at"] == view["now"]

        page.goto(f"{srv.ui_url}/namespaces/default/workflows")
        page.get_by_role("link", name="Cluster").click()  # in the top bar, without a reload
        expect(page).to_have_url(f"{srv.ui_url}/cluster")
        expect(page.get_by_role("link", name="Cluster")).to_have_attribute("aria-current", "page")
        row = page.locator(f'tr[data-node="{srv.address}"]')
        expect(row.locator(".server-status")).to_have_text("active")
        expect(row).to_contain_text("this server")
        expect(page.locator(".cluster-single")).to_contain_text("A SQLite store is held by one server")
        expect(page.locator("[data-store=sqlite]")).to_contain_text("one.db")
        # A reload of /cluster lands on the same page, and the way back to the workflows is the top bar.
        page.reload()
        expect(page.locator(f'tr[data-node="{srv.address}"]')).to_be_visible()
        page.get_by_role("link", name="Workflows").click()
        expect(page).to_have_url(f"{srv.ui_url}/namespaces/default/workflows")


@pytest.mark.timeout(180)
def test_the_cluster_page_follows_a_takeover_on_postgres(tmp_path: Path, postgres_url: str, page: Page) -> None:
    a = ServerProcess(postgres_url, log_path=tmp_path / "a.log")
    b = ServerProcess(postgres_url, extra_args=["--standby"], log_path=tmp_path / "b.log")
    with running(a, b):
        a.start()
        b.launch()
        wait_until(lambda: statuses(cluster(a)).get(b.address) == "standby", timeout=30, what="B to stand by")
        view = cluster(a)
        assert view["kind"] == "postgresql" and view["shared"] is True and view["lease_seconds"] == 5.0
        assert view["store"].startswith("PostgreSQL at ")
        assert statuses(view) == {a.address: "active", b.address: "standby"}
        assert [s["address"] for s in view["servers"] if s["this"]] == [a.address]
        [lease] = view["shards"]
        a_node = next(s["node"] for s in view["servers"] if s["address"] == a.address)
        assert lease["owner"] == a_node and lease["owner_address"] == a.address and lease["live"] is True
        epoch = lease["epoch"]

        page.goto(f"{a.ui_url}/cluster")
        expect(page.locator(f'tr[data-node="{a_node}"] .server-status')).to_have_text("active")
        expect(page.locator(f'tr[data-node="{a_node}"]')).to_contain_text("this server")
        b_row = row(page, b)
        expect(b_row.locator(".server-status")).to_have_text("standby")
        expect(b_row).not_to_contain_text("this server")
        expect(page.locator('table.shards tr[data-shard="0"]')).to_contain_text(a_node)
        expect(page.locator('table.shards tr[data-shard="0"]')).to_contain_text(str(epoch))

        a.kill()  # a crash: its lease lapses, B takes the store
        wait_until(b.healthy, timeout=30, what="B to take over")
        wait_until(lambda: statuses(cluster(b)).get(a.address) == "gone", timeout=30, what="A to be gone")
        view = cluster(b)
        assert statuses(view) == {a.address: "gone", b.address: "active"}
        assert [s["address"] for s in view["servers"] if s["this"]] == [b.address]
        [lease] = view["shards"]
        assert lease["owner_address"] == b.address and lease["live"] and lease["epoch"] > epoch

        page.goto(f"{b.ui_url}/cluster")
        expect(row(page, a).locator(".server-status")).to_have_text("gone")
        b_row = row(page, b)
        expect(b_row.locator(".server-status")).to_have_text("active")
        expect(b_row).to_contain_text("this server")
        expect(page.locator(".cluster-servers")).to_contain_text("2 servers, 1 active")

        # B stopped cleanly (a standby started meanwhile takes over): B leaves the list, A stays gone.
        c = ServerProcess(postgres_url, extra_args=["--standby"], log_path=tmp_path / "c.log")
        with running(c):
            c.launch()
            wait_until(lambda: statuses(cluster(b)).get(c.address) == "standby", timeout=30, what="C to stand by")
            stopping = threading.Thread(target=b.stop)
            stopping.start()
            wait_until(c.healthy, timeout=30, what="C to take over")
            stopping.join()
            assert statuses(cluster(c)) == {a.address: "gone", c.address: "active"}
