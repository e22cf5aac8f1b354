"""Who may call a server started with ``--auth api-key``, against a real server process:

- every operation of the registry, over HTTP, with a key of each role (and of another namespace, and none):
  refused with 403 naming the role it needs exactly when ``api.roles.ALLOWED`` says so, 401 without a key;
  a new operation is covered as soon as it exists (its ``access`` has no default);
- the worker and client channels: a worker key runs a workflow end to end; a reader's worker, a worker key
  of another namespace, and a reader's start over the client channel are refused, saying why;
- forged, mistyped and revoked keys; a key made offline against the store (``--db``) while the server runs;
- the first admin key printed once at first start; ``server start`` refusing to listen beyond loopback
  without auth unless ``--insecure-no-auth``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mainspring import activity, workflow
from mainspring.api.roles import ALLOWED, Access, Role
from mainspring.client import Client
from mainspring.errors import PermissionDeniedError, UnauthenticatedError
from mainspring.server._operations import OPERATIONS
from mainspring.worker import Worker
from support import API_KEY, ServerProcess, first_api_key, free_port, make_api_key, wait_until


def new_id() -> str:
    return f"auth-{uuid.uuid4().hex[:12]}"


KEY = API_KEY


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("auth")
    server = ServerProcess(tmp / "auth.db", extra_args=["--auth", "api-key", "--namespace", "other"]).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def admin(srv: ServerProcess) -> str:
    key = first_api_key(srv)
    assert KEY.findall(srv.log()) == [key]
    return key


def make_key(srv: ServerProcess, admin: str, namespace: str, role: str) -> str:
    key = make_api_key(srv, admin, namespace, role)
    assert KEY.fullmatch(key)
    return key


@pytest.fixture(scope="module")
def keys(srv: ServerProcess, admin: str) -> dict[str, str]:
    made = {role.value: make_key(srv, admin, "default", role.value) for role in Role}
    made["other-admin"] = make_key(srv, admin, "other", "admin")
    made["every-admin"] = admin
    return made


def _path(path: str) -> str:
    return path.replace("{namespace}", "default").replace("{session_id}", "nosuchsession")


def _allowed(access: Access, who: str, namespaced: bool) -> bool:
    if access in (Access.PUBLIC, Access.AUTHENTICATED):
        return True
    if who == "every-admin":
        return True
    if access is Access.SOME_ADMIN:
        return who in ("admin", "other-admin")
    if who == "other-admin" or not namespaced:  # (an operation on no namespace needs a grant of every one)
        return False
    return Role(who) in ALLOWED[access]


def test_every_operation_refuses_exactly_the_roles_it_does_not_allow(srv: ServerProcess, keys: dict[str, str]) -> None:
    checked = 0
    with httpx.Client(base_url=srv.url, timeout=30) as http:
        for op in OPERATIONS:
            assert isinstance(op.access, Access), op.name  # every operation has a rule
            if op.http is None:
                continue  # channel-only: see the channel tests
            path = _path(op.http.path)
            body = {} if op.http.takes_body else None
            for who in [None, *keys]:
                headers = {"authorization": f"Bearer {keys[who]}"} if who else {}
                r = http.request(op.http.method, path, json=body, headers=headers, params={"wait": "0"})
                if who is None:
                    expected_auth = op.access is Access.PUBLIC
                    assert (r.status_code != 401) == expected_auth, (op.name, r.status_code, r.text)
                    if r.status_code == 401:
                        assert r.json()["code"] == "unauthenticated" and "--api-key" in r.json()["message"]
                        assert r.headers["www-authenticate"].startswith("Bearer")
                    continue
                if _allowed(op.access, who, "{namespace}" in op.http.path):
                    assert r.status_code not in (401, 403), (op.name, who, r.status_code, r.text)
                else:
                    assert r.status_code == 403, (op.name, who, r.status_code, r.text)
                    error = r.json()
                    assert error["code"] == "permission_denied"
                    role = error["details"]["needed_role"]
                    assert f"needs the {role} role" in error["message"], error
                checked += 1
    assert checked > 6 * 30


def test_namespaces_are_listed_only_where_the_key_has_a_role(srv: ServerProcess, keys: dict[str, str]) -> None:
    def names(key: str) -> list[str]:
        r = httpx.get(f"{srv.url}/api/v1/namespaces", headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        return sorted(n["name"] for n in r.json()["namespaces"])

    assert names(keys["reader"]) == ["default"]
    assert names(keys["other-admin"]) == ["other"]
    assert names(keys["every-admin"]) == ["default", "other"]


def test_forged_mistyped_and_revoked_keys_are_refused(srv: ServerProcess, admin: str) -> None:
    def status(key: str) -> httpx.Response:
        return httpx.get(f"{srv.url}/api/v1/namespaces/default/workflows", headers={"authorization": f"Bearer {key}"})

    key = make_key(srv, admin, "default", "reader")
    assert status(key).status_code == 200
    forged = "msk_" + "0" * 12 + "_" + "A" * 43
    mistyped = key[:-1] + ("A" if key[-1] != "A" else "B")
    for bad in (forged, mistyped, "not-a-key", key + "x", "-"):
        r = status(bad)
        assert r.status_code == 401, (bad, r.text)
        assert r.json()["code"] in ("invalid_credentials", "unauthenticated")
        assert key not in r.text
    basic = httpx.get(f"{srv.url}/api/v1/namespaces/default/workflows", headers={"authorization": f"Basic {key}"})
    assert basic.status_code == 401 and "Bearer" in basic.json()["message"]
    key_id = key.split("_")[1]
    r = httpx.post(
        f"{srv.url}/api/v1/api-keys/revoke", json={"key_id": key_id}, headers={"authorization": f"Bearer {admin}"}
    )
    assert r.status_code == 200 and r.json()["revoked_at"], r.text
    r = status(key)
    assert r.status_code == 401 and "revoked" in r.json()["message"]


def test_a_key_is_stored_as_a_hash_only(srv: ServerProcess, admin: str) -> None:
    key = make_key(srv, admin, "default", "writer")
    secret = key.split("_", 2)[2]
    for path in Path(srv.db).parent.glob(Path(srv.db).name + "*"):
        if path.suffix != ".log":
            assert secret.encode() not in path.read_bytes(), path


def test_a_reader_cannot_make_or_list_other_keys(srv: ServerProcess, keys: dict[str, str]) -> None:
    headers = {"authorization": f"Bearer {keys['reader']}"}
    r = httpx.post(
        f"{srv.url}/api/v1/api-keys", json={"name": "mine", "namespace": "default", "role": "admin"}, headers=headers
    )
    assert r.status_code == 403 and "admin" in r.json()["message"], r.text
    assert httpx.get(f"{srv.url}/api/v1/api-keys", headers=headers).status_code == 403
    # An admin of one namespace makes keys of it, not of another, nor of every namespace.
    other = {"authorization": f"Bearer {keys['other-admin']}"}
    for namespace, status in (("other", 201), ("default", 403), ("*", 403)):
        r = httpx.post(
            f"{srv.url}/api/v1/api-keys", json={"name": "n", "namespace": namespace, "role": "reader"}, headers=other
        )
        assert r.status_code == status, (namespace, r.text)


# --- the channels ----------------------------------------------------------------------------------------


@activity.defn
async def shout(text: str) -> str:
    return text.upper()


@workflow.defn
async def auth_greeting(ctx: workflow.Context, name: str) -> str:
    return await ctx.execute_activity(shout, f"hello {name}", start_to_close_timeout=timedelta(seconds=10))


async def test_a_worker_key_runs_workflows_and_a_writer_starts_them(srv: ServerProcess, keys: dict[str, str]) -> None:
    queue = new_id()
    worker_client = await Client.connect(srv.address, api_key=keys["worker"])
    writer = await Client.connect(srv.address, api_key=keys["writer"])
    try:
        async with Worker(worker_client, task_queue=queue, workflows=[auth_greeting], activities=[shout]):
            result = await writer.execute_workflow(auth_greeting, "ada", id=new_id(), task_queue=queue)
        assert result == "HELLO ADA"
    finally:
        await worker_client.close()
        await writer.close()


async def test_the_channels_refuse_a_role_that_does_not_allow_them(srv: ServerProcess, keys: dict[str, str]) -> None:
    reader = await Client.connect(srv.address, api_key=keys["reader"])
    try:
        # A reader's start, on the client channel: refused, naming the role it needs.
        with pytest.raises(PermissionDeniedError, match="writer role"):
            await reader.start_workflow(auth_greeting, "x", id=new_id(), task_queue="nowhere")
        # A reader's worker: the worker channel needs the worker role.
        with pytest.raises(PermissionDeniedError, match="worker role"):
            async with Worker(reader, task_queue=new_id(), workflows=[auth_greeting]):
                await asyncio.sleep(5)
    finally:
        await reader.close()
    # A worker key of another namespace.
    other = await Client.connect(srv.address, api_key=keys["other-admin"])
    try:
        with pytest.raises(PermissionDeniedError, match="namespace 'default'"):
            async with Worker(other, task_queue=new_id(), workflows=[auth_greeting]):
                await asyncio.sleep(5)
    finally:
        await other.close()
    nobody = await Client.connect(srv.address, api_key="")
    try:
        with pytest.raises(UnauthenticatedError, match="API key"):
            await nobody.start_workflow(auth_greeting, "x", id=new_id(), task_queue="nowhere")
    finally:
        await nobody.close()


# --- the CLI ---------------------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "mainspring", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_the_cli_sends_its_key_and_says_what_is_missing(srv: ServerProcess, keys: dict[str, str]) -> None:
    address = f"--address={srv.address}"
    r = cli("workflow", "list", address)
    assert r.returncode != 0 and "--api-key" in r.stderr, r.stderr
    r = cli("workflow", "list", address, env={"MAINSPRING_API_KEY": keys["reader"]})
    assert r.returncode == 0, r.stderr
    r = cli(
        "workflow", "start", address, "--api-key", keys["reader"], "--type", "t", "--task-queue", "q",
        "--workflow-id", new_id(),
    )  # fmt: skip
    assert r.returncode != 0 and "needs the writer role" in r.stderr, r.stderr
    r = cli("operator", "api-key", "list", address, "--api-key", keys["every-admin"], "-o", "json")
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    assert {k["role"] for k in listed} >= {"reader", "writer", "worker", "admin"}
    assert all("api_key" not in k and "secret_hash" not in k for k in listed)


def test_a_key_made_offline_against_the_store_is_accepted_at_once(srv: ServerProcess) -> None:
    r = cli(
        "operator", "api-key", "create", "--db", srv.store, "--role", "reader", "--namespace", "default", "-o", "json"
    )
    assert r.returncode == 0, r.stderr
    key = json.loads(r.stdout)["api_key"]
    got = httpx.get(f"{srv.url}/api/v1/namespaces/default/workflows", headers={"authorization": f"Bearer {key}"})
    assert got.status_code == 200, got.text


def test_the_first_admin_key_is_printed_once(tmp_path: Path) -> None:
    db = tmp_path / "first.db"
    server = ServerProcess(db, extra_args=["--auth", "api-key"]).start()
    try:
        first = wait_until(lambda: KEY.findall(server.log()), 10, what="the first admin key")
    finally:
        server.stop()
    server.start()
    try:
        time.sleep(0.5)
        assert KEY.findall(server.log()) == first  # not a second one
        r = httpx.get(f"{server.url}/api/v1/namespaces", headers={"authorization": f"Bearer {first[0]}"})
        assert r.status_code == 200
    finally:
        server.stop()


def test_server_start_refuses_other_interfaces_without_auth(tmp_path: Path) -> None:
    port, ui = str(free_port()), str(free_port())
    args = ("server", "start", "--db", str(tmp_path / "x.db"), "--port", port, "--ui-port", ui, "--ip", "0.0.0.0")
    r = cli(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "--auth api-key" in r.stderr and "--insecure-no-auth" in r.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "mainspring", *args, "--insecure-no-auth"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200,
            20,
            what="the server to answer",
        )
    finally:
        proc.terminate()
        proc.wait(10)


# --- the audit log ---------------------------------------------------------------------------------------


def test_the_audit_log_says_who_changed_what(srv: ServerProcess, admin: str, keys: dict[str, str]) -> None:
    wid = new_id()
    writer = {"authorization": f"Bearer {keys['writer']}", "x-request-id": "audit-test-1"}
    body = {"workflow_id": wid, "workflow_type": "t", "task_queue": "audit-q"}
    assert httpx.post(f"{srv.url}/api/v1/namespaces/default/workflows", json=body, headers=writer).status_code == 201
    refused = httpx.post(
        f"{srv.url}/api/v1/namespaces/default/workflows/terminate",
        json={"workflow_id": wid},
        headers={"authorization": f"Bearer {keys['reader']}"},
    )
    assert refused.status_code == 403
    reads_before = httpx.get(f"{srv.url}/api/v1/namespaces/default/workflows", headers=writer)
    assert reads_before.status_code == 200

    def entries(key: str, **params: Any) -> httpx.Response:
        return httpx.get(f"{srv.url}/api/v1/audit", params=params, headers={"authorization": f"Bearer {key}"})

    got = entries(admin, limit=50).json()["entries"]
    mine = [e for e in got if e["target"] == wid]
    assert [(e["operation"], e["status"]) for e in mine] == [("terminate_workflow", 403), ("start_workflow", 201)]
    start = mine[1]
    assert start["principal"].startswith("writer of default") and start["method"] == "api-key"
    assert start["namespace"] == "default" and start["peer"] == "127.0.0.1" and start["request_id"] == "audit-test-1"
    assert "reader of default" in mine[0]["principal"]
    assert not any(e["operation"] == "list_workflows" for e in got)  # reads are not mutations
    # Only admins read it; an admin of another namespace sees none of default's entries.
    assert entries(keys["writer"]).status_code == 403
    other = entries(keys["other-admin"]).json()["entries"]
    assert all(e["namespace"] == "other" for e in other)
    # The CLI.
    r = cli(
        "operator", "audit", "list", f"--address={srv.address}", "--api-key", admin, "--of", "default", "-o", "json"
    )
    assert r.returncode == 0, r.stderr
    assert any(e["target"] == wid for e in json.loads(r.stdout))


async def test_revoking_a_key_closes_the_channels_it_opened(srv: ServerProcess, admin: str) -> None:
    key = make_key(srv, admin, "default", "admin")
    client = await Client.connect(srv.address, api_key=key)
    try:
        queue = new_id()
        async with Worker(client, task_queue=queue, workflows=[auth_greeting], activities=[shout]):
            assert await client.execute_workflow(auth_greeting, "x", id=new_id(), task_queue=queue) == "HELLO X"
            async with httpx.AsyncClient() as http:
                r = await http.post(
                    f"{srv.url}/api/v1/api-keys/revoke",
                    json={"key_id": key.split("_")[1]},
                    headers={"authorization": f"Bearer {admin}"},
                )
            assert r.status_code == 200
            # Both channels close; opening them again is refused.
            for _ in range(200):  # (polled without blocking the loop the client's channels run on)
                if srv.log().count("its key was revoked") >= 2:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"the server did not close both channels:\n{srv.log()[-2000:]}")
            await asyncio.sleep(0.2)
            with pytest.raises(UnauthenticatedError, match="revoked"):
                await client.start_workflow(auth_greeting, "y", id=new_id(), task_queue=queue)
    except UnauthenticatedError:
        pass  # the worker's session, refused when it reconnects, may stop the worker with it
    finally:
        await client.close()


def test_the_health_check_tells_strangers_only_that_it_is_up(srv: ServerProcess, admin: str) -> None:
    anonymous = httpx.get(f"{srv.url}/api/v1/health").json()
    assert anonymous == {"status": "ok", "version": anonymous["version"]}
    known = httpx.get(f"{srv.url}/api/v1/health", headers={"authorization": f"Bearer {admin}"}).json()
    assert "store" in known and "load" in known


async def test_a_client_changes_its_key_while_it_runs(srv: ServerProcess, admin: str, keys: dict[str, str]) -> None:
    client = await Client.connect(srv.address, api_key=keys["reader"], channel=False)
    try:
        with pytest.raises(PermissionDeniedError, match="writer role"):
            await client.start_workflow(auth_greeting, "x", id=new_id(), task_queue="nowhere")
        client.api_key = keys["writer"]  # a rotated key, a renewed token
        assert client.api_key == keys["writer"]
        handle = await client.start_workflow(auth_greeting, "x", id=new_id(), task_queue="nowhere")
        await handle.terminate()
        client.api_key = None
        with pytest.raises(UnauthenticatedError):
            await handle.describe()
    finally:
        await client.close()
