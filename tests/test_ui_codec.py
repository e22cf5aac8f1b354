"""Encoded payloads in the web UI, in a real headless Chromium against a real server, a worker and a
codec server that hold the AES-GCM key (examples/encryption): without ``--ui-codec-endpoint`` the run's
input and result show as "encrypted" badges (never base64, never clear text); with it, the page decodes
them through the codec server (its origin allowed by the Content-Security-Policy) and shows clear text,
and what the page sends (a signal) is encoded through it before it reaches the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

import mainspring.converter
from mainspring import Client
from support import EXAMPLES, PYTHON, ServerProcess, WorkerProcess, chromium, free_port, wait_until

sys.path.insert(0, str(EXAMPLES / "encryption"))
from codec import EncryptionCodec
from workflows import EncryptedOrder, Order

pytestmark = pytest.mark.slow
expect.set_options(timeout=15_000)

SECRET = "5500-UI-SECRET-0042"
NOTE = "UI-NOTE-4411"


def codec_server(port: int, origin: str, log: Path) -> subprocess.Popen[bytes]:
    """``mainspring codec-server`` for the example's codec, allowing the UI's origin."""
    with open(log, "ab") as out:
        args = ["codec-server", "--codec", "codec:EncryptionCodec", "--port", str(port), "--cors-origin", origin]
        proc = subprocess.Popen(
            [PYTHON, "-m", "mainspring", *args],
            cwd=EXAMPLES / "encryption",
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return proc.poll() is not None

    wait_until(up, 20, what="the codec server to start")
    assert proc.poll() is None, log.read_text()
    return proc


def _converter() -> mainspring.converter.DataConverter:
    return dataclasses.replace(mainspring.converter.default(), payload_codec=EncryptionCodec())


async def _run_workflow(address: str, wid: str, queue: str, *, note: str | None = "first") -> None:
    async with await Client.connect(address, data_converter=_converter()) as client:
        handle = await client.start_workflow(
            EncryptedOrder.run, Order(customer="Grace", card_number=SECRET), id=wid, task_queue=queue
        )
        if note is not None:
            await handle.signal(EncryptedOrder.add_note, note)
            await handle.result()


async def _result(address: str, wid: str) -> str:
    async with await Client.connect(address, data_converter=_converter()) as client:
        result: str = await client.get_workflow_handle(wid).result()
        return result


def _in_thread(coro: Any) -> Any:
    # On a thread of its own: Playwright's sync API runs an event loop on this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(60)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def _page(browser: Browser) -> Page:
    return browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US").new_page()


def test_the_ui_shows_encrypted_without_a_codec_server_and_clear_text_with_one(
    browser: Browser, tmp_path: Path
) -> None:
    queue = f"ui-codec-{uuid.uuid4().hex[:6]}"
    server = ServerProcess(tmp_path / "mainspring.db").start()
    worker = WorkerProcess(
        EXAMPLES / "encryption" / "worker.py", server.address, args=["--task-queue", queue], log_path=tmp_path / "w.log"
    )
    codec_proc: subprocess.Popen[bytes] | None = None
    try:
        worker.start()
        wid = f"ui-codec-{uuid.uuid4().hex[:6]}"
        _in_thread(_run_workflow(server.address, wid, queue))

        # No codec endpoint: badges, and neither clear text nor base64.
        page = _page(browser)
        page.goto(f"{server.ui_url}/namespaces/default/workflows/{wid}")
        badge = page.locator(".encoded-badge").first
        expect(badge).to_be_visible()
        expect(badge).to_contain_text("encrypted (binary/encrypted)")
        body = page.locator("body").inner_text()
        assert SECRET not in body and "$payload" not in body
        page.context.close()

        # With one: the same server (same store), started again with --ui-codec-endpoint.
        cport = free_port()
        server.stop()
        server.extra_args = ["--ui-codec-endpoint", f"http://127.0.0.1:{cport}"]
        server.start()
        csp = httpx.get(server.ui_url + "/namespaces/default/workflows", timeout=5).headers["content-security-policy"]
        assert f"connect-src 'self' http://127.0.0.1:{cport};" in csp
        codec_proc = codec_server(cport, server.ui_url, tmp_path / "codec.log")
        page = _page(browser)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server.ui_url}/namespaces/default/workflows/{wid}")
        expect(page.locator(".payload").filter(has_text=SECRET).first).to_be_visible()
        expect(page.get_by_text(f"charged card {SECRET} of Grace; note: first").first).to_be_visible()
        assert page.locator(".encoded-badge").count() == 0
        # What the page sends goes through the codec server's /encode: a signal from the page (as the
        # signal dialog sends it) reaches the worker clear and the server encrypted.
        waiting = f"ui-codec-{uuid.uuid4().hex[:6]}"
        _in_thread(_run_workflow(server.address, waiting, queue, note=None))
        page.evaluate(
            """async ([wid, note]) => {
                const { api } = await import("/static/js/api.js");
                await api("/namespaces/default/workflows/signal", {
                    method: "POST", body: { workflow_id: wid, signal_name: "add_note", input: note },
                });
            }""",
            [waiting, NOTE],
        )
        assert _in_thread(_result(server.address, waiting)) == f"charged card {SECRET} of Grace; note: {NOTE}"
        assert not errors, errors
        page.context.close()
        # The server itself still holds ciphertext only.
        for run in (wid, waiting):
            raw = httpx.get(server.url + "/api/v1/namespaces/default/workflows/history", params={"workflow_id": run})
            assert SECRET not in raw.text and NOTE not in raw.text
    finally:
        if codec_proc is not None:
            codec_proc.terminate()
            codec_proc.wait(10)
        worker.stop()
        server.stop()
