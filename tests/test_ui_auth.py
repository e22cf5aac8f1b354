"""The web UI of a server started with ``--auth api-key``, in a real headless Chromium:

- the UI asks for an API key before it shows anything; a wrong key is refused with the server's word;
- the session cookie is ``HttpOnly``, ``Secure`` and ``SameSite=Strict``, and holds no key;
- a reader of one namespace sees only that namespace, and no button to start, cancel, terminate, signal,
  update, reset or delete; a writer sees them;
- a mutation with the session cookie but without the session's CSRF token is refused (403), with it is done;
- logging out ends the session on the server; revoking the key ends its sessions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from support import ServerProcess, chromium, first_api_key, make_api_key, watched_page

pytestmark = pytest.mark.slow

expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("ui-auth")
    server = ServerProcess(tmp / "ui-auth.db", extra_args=["--auth", "api-key", "--namespace", "secret"]).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def admin(srv: ServerProcess) -> str:
    return first_api_key(srv)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    yield from watched_page(browser, {"width": 1280, "height": 900})


def start_run(srv: ServerProcess, admin: str, namespace: str = "default") -> str:
    wid = f"ua-{uuid.uuid4().hex[:10]}"
    r = httpx.post(
        f"{srv.url}/api/v1/namespaces/{namespace}/workflows",
        json={"workflow_id": wid, "workflow_type": "nobody_runs_this", "task_queue": "ui-auth-queue"},
        headers={"authorization": f"Bearer {admin}"},
    )
    assert r.status_code == 201, r.text
    return wid


def log_in(page: Page, srv: ServerProcess, key: str, path: str = "/namespaces/default/workflows") -> None:
    page.goto(srv.ui_url + path)
    form = page.locator(".login-card")
    expect(form).to_be_visible()
    form.locator("input[name=api_key]").fill(key)
    form.get_by_role("button", name="Log in").click()
    expect(form).to_have_count(0)


def test_a_key_is_asked_for_and_a_wrong_one_refused(srv: ServerProcess, page: Page, admin: str) -> None:
    page.goto(srv.ui_url + "/namespaces/default/workflows")
    form = page.locator(".login-card")
    expect(form).to_be_visible()
    expect(page.locator("table")).to_have_count(0)  # nothing of the namespace is shown
    form.locator("input[name=api_key]").fill("msk_" + "0" * 12 + "_" + "A" * 43)
    form.get_by_role("button", name="Log in").click()
    expect(form.locator(".form-error")).to_contain_text("not valid")
    assert page.context.cookies() == []


def test_the_session_cookie_is_strict_and_holds_no_key(srv: ServerProcess, page: Page, admin: str) -> None:
    log_in(page, srv, admin)
    cookies = page.context.cookies()
    assert len(cookies) == 1, cookies
    cookie = cookies[0]
    assert cookie["name"] == "mainspring_session"
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Strict", cookie
    assert admin not in cookie["value"] and admin.split("_")[2] not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # out of the page's scripts' reach


def test_a_reader_sees_its_namespace_only_and_no_actions(srv: ServerProcess, page: Page, admin: str) -> None:
    wid = start_run(srv, admin)
    start_run(srv, admin, "secret")
    reader = make_api_key(srv, admin, "default", "reader")
    log_in(page, srv, reader, f"/namespaces/default/workflows/{wid}")
    expect(page.locator(".run-title")).to_have_text(wid)
    options = page.locator("#namespace-select option")
    expect(options).to_have_count(1)
    expect(options).to_have_text(["default"])
    for action in ("cancel", "terminate", "signal", "update", "reset", "delete"):
        expect(page.locator(f"[data-action={action}]")).to_be_hidden()
    expect(page.locator("[data-action=query]")).to_be_visible()
    expect(page.locator("#start-workflow-button")).to_be_hidden()
    # The other namespace's data is refused, in the UI as through the API.
    page.goto(srv.ui_url + "/namespaces/secret/workflows")
    expect(page.locator(".page-inner")).to_contain_text("reader role")


def test_a_writer_sees_the_actions(srv: ServerProcess, page: Page, admin: str) -> None:
    wid = start_run(srv, admin)
    writer = make_api_key(srv, admin, "default", "writer")
    log_in(page, srv, writer, f"/namespaces/default/workflows/{wid}")
    expect(page.locator("[data-action=terminate]")).to_be_visible()
    expect(page.locator("#start-workflow-button")).to_be_visible()
    expect(page.locator("[data-action=delete]")).to_be_hidden()  # an admin's
    page.locator("[data-action=terminate]").click()
    page.get_by_role("dialog").get_by_role("button", name="Terminate workflow").click()
    expect(page.locator(".run-status .badge")).to_have_text("TERMINATED")


def _session_call(page: Page, srv: ServerProcess, path: str, body: dict[str, Any], csrf: str | None) -> httpx.Response:
    sid = next(c["value"] for c in page.context.cookies() if c["name"] == "mainspring_session")
    headers = {"cookie": f"mainspring_session={sid}"}
    if csrf is not None:
        headers["x-csrf-token"] = csrf
    return httpx.post(f"{srv.ui_url}/api/v1/namespaces/default{path}", json=body, headers=headers)


def test_a_mutation_needs_the_csrf_token(srv: ServerProcess, page: Page, admin: str) -> None:
    wid = start_run(srv, admin)
    log_in(page, srv, admin)
    body = {"workflow_id": wid, "reason": "test"}
    refused = _session_call(page, srv, "/workflows/terminate", body, None)
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_token_missing", refused.text
    refused = _session_call(page, srv, "/workflows/terminate", body, "forged-token")
    assert refused.status_code == 403, refused.text
    sid = next(c["value"] for c in page.context.cookies() if c["name"] == "mainspring_session")
    me = httpx.get(f"{srv.ui_url}/api/v1/auth/me", headers={"cookie": f"mainspring_session={sid}"}).json()
    done = _session_call(page, srv, "/workflows/terminate", body, me["csrf_token"])
    assert done.status_code == 200, done.text
    # A cookie never opens a channel: those take bearer keys only.
    ws = httpx.get(
        f"{srv.ui_url}/api/v1/namespaces/default/clients/connect",
        headers={"cookie": f"mainspring_session={sid}", "connection": "upgrade", "upgrade": "websocket",
                 "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=="},
    )  # fmt: skip
    assert ws.status_code == 401, ws.status_code


def test_logging_out_and_revoking_end_the_session(srv: ServerProcess, page: Page, admin: str) -> None:
    key = make_api_key(srv, admin, "default", "writer")
    log_in(page, srv, key)
    sid = next(c["value"] for c in page.context.cookies() if c["name"] == "mainspring_session")
    page.locator("[data-action=log-out]").click()
    expect(page.locator(".login-card")).to_be_visible()
    gone = httpx.get(
        f"{srv.ui_url}/api/v1/namespaces/default/workflows", headers={"cookie": f"mainspring_session={sid}"}
    )
    assert gone.status_code == 401, gone.text
    log_in(page, srv, key)
    key_id = key.split("_")[1]
    r = httpx.post(
        f"{srv.url}/api/v1/api-keys/revoke", json={"key_id": key_id}, headers={"authorization": f"Bearer {admin}"}
    )
    assert r.status_code == 200
    page.reload()
    expect(page.locator(".login-card")).to_be_visible()
