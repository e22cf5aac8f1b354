"""An OIDC token's expiry on the channels it opened (``--auth oidc``), against a real server: a channel opened
with a token is closed (1008, saying the token expired and to reconnect with a fresh one) when its ``exp``
passes (with the 30 s of clock skew the server allows any token), a message on it after that is refused even
before the close lands, and a worker whose channel was closed reconnects with the client's current
``api_key`` and carries on (waiting, while that key is the expired token still, for the program to renew it);
with ``Client.connect(api_key_provider=...)`` the client asks it for a fresh token for each new channel and for
a request refused as its token expired.

Tokens are made to expire a few seconds after the test starts: ``exp`` 27 s in the past, inside the skew."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from mainspring import Client, activity, workflow
from mainspring.api.roles import Principal, Role
from mainspring.errors import UnauthenticatedError
from mainspring.server._channel import CLIENT_OPERATIONS, _Connection
from mainspring.server._operations import Caller
from mainspring.worker import Worker
from support import ServerProcess
from test_oidc import AUDIENCE, ISSUER, Issuer

#: A token's ``exp`` this many seconds ago: accepted (the server allows 30 s of skew) for a few seconds more.
_NEARLY_EXPIRED = 27


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    made = Issuer()
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, issuer: Issuer) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("oidc-expiry")
    args = ["--auth", "oidc", "--oidc-issuer", ISSUER, "--oidc-audience", AUDIENCE, "--oidc-jwks", issuer.jwks_url]
    server = ServerProcess(tmp / "oidc.db", extra_args=args).start()
    try:
        yield server
    finally:
        server.stop()


def _short_lived(issuer: Issuer) -> str:
    return issuer.token(["default:admin"], exp=int(time.time()) - _NEARLY_EXPIRED)


@activity.defn
async def loud(text: str) -> str:
    return text.upper()


@workflow.defn
async def shouted(ctx: workflow.Context, text: str) -> str:
    return await ctx.execute_activity(loud, text, start_to_close_timeout=timedelta(seconds=10))


async def _until(condition: Any, what: str) -> None:
    for _ in range(600):  # (polled without blocking the loop the client's channels run on)
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_channel_is_closed_when_its_token_expires(srv: ServerProcess, issuer: Issuer) -> None:
    token = _short_lived(issuer)
    url = f"ws://{srv.address}/api/v1/namespaces/default/clients/connect"
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(url, headers={"authorization": f"Bearer {token}"}) as ws,
    ):
        await ws.send_json({"i": 1, "op": "signal_workflow", "b": {"workflow_id": "nope", "signal_name": "s"}})
        answer = await ws.receive_json()
        assert answer["err"]["code"] == "not_found", answer  # accepted while the token is valid
        closing = await ws.receive(timeout=60)  # nothing else comes: the server closes the channel once the token ends
    assert closing.type is aiohttp.WSMsgType.CLOSE, closing
    assert ws.close_code == 1008
    assert "expired" in closing.extra and "reconnect with a fresh one" in closing.extra
    assert "its token expired" in srv.log()
    # Connecting again with it is refused, saying why.
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(url, headers={"authorization": f"Bearer {token}"})
    assert refused.value.status == 401
    assert (refused.value.headers or {}).get("mainspring-error-code") == "token_expired"


async def test_a_worker_reconnects_with_the_clients_current_token(
    srv: ServerProcess, issuer: Issuer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "mainspring.worker")
    client = await Client.connect(srv.address, api_key=_short_lived(issuer))
    queue = f"q-{uuid.uuid4().hex[:8]}"
    closed_before = srv.log().count("its token expired")
    try:
        async with Worker(client, task_queue=queue, workflows=[shouted], activities=[loud]):
            assert await client.execute_workflow(shouted, "a", id=f"w-{uuid.uuid4().hex[:8]}", task_queue=queue) == "A"
            # Both channels (the worker's, the client's) close as the token ends; the worker, whose client
            # still has the expired token, is refused when it connects again, and keeps trying.
            await _until(lambda: srv.log().count("its token expired") >= closed_before + 2, "both channels to close")
            with pytest.raises(UnauthenticatedError) as refused:
                await client.start_workflow(shouted, "b", id=f"w-{uuid.uuid4().hex[:8]}", task_queue=queue)
            assert refused.value.code == "token_expired"
            await _until(
                lambda: any("set client.api_key to a fresh token" in r.getMessage() for r in caplog.records),
                "the worker to be refused, and wait for a fresh token",
            )
            # The program renews the token: the worker's next try carries it, and the worker carries on.
            client.api_key = issuer.token(["default:admin"])
            wid = f"w-{uuid.uuid4().hex[:8]}"
            assert await client.execute_workflow(shouted, "c", id=wid, task_queue=queue) == "C"
    finally:
        await client.close()


async def test_a_message_after_the_token_expired_is_refused_before_the_close_lands() -> None:
    # The close is a timer of the server's loop; a message read before it fires is refused all the same (the
    # connection is driven here directly, as the timer may not have run yet however fast a test is).
    sent: list[str] = []
    closed: list[tuple[int, str]] = []

    async def send_text(text: str) -> None:
        sent.append(text)

    async def close(code: int, reason: str = "") -> None:
        closed.append((code, reason))

    principal = Principal("ada", {"*": Role.ADMIN}, "oidc", expires_at=time.time() - 1)
    websocket = SimpleNamespace(
        scope={"mainspring.principal": principal}, client=None, send_text=send_text, close=close
    )
    engine = SimpleNamespace(audit=None, metrics=None, tracing=None, operations=0)
    conn = _Connection(engine, websocket, CLIENT_OPERATIONS, frozenset(CLIENT_OPERATIONS))  # type: ignore[arg-type]
    op = CLIENT_OPERATIONS["signal_workflow"]
    body = {"workflow_id": "w", "signal_name": "s"}
    await conn._serve(1, "signal_workflow", op, body, Caller("default", principal=principal))
    await asyncio.sleep(0)  # the answer's flush, and the close, run as tasks of their own
    await asyncio.sleep(0)
    assert len(sent) == 1 and '"token_expired"' in sent[0] and "reconnect with a fresh one" in sent[0], sent
    assert closed == [(1008, "the bearer token expired: reconnect with a fresh one")]


async def test_a_token_provider_is_asked_for_a_fresh_token(srv: ServerProcess, issuer: Issuer) -> None:
    # The provider's tokens are about to expire until the test says otherwise, then fresh: the worker's new
    # channel, and a plain HTTP request refused for the expired token, get a fresh one with nothing else done.
    short = _short_lived(issuer)
    fresh = {"now": False}
    handed: list[str] = []

    async def provider() -> str:
        token = issuer.token(["default:admin"]) if fresh["now"] else short
        handed.append(token)
        return token

    client = await Client.connect(srv.address, api_key_provider=provider)
    queue = f"q-{uuid.uuid4().hex[:8]}"
    closed_before = srv.log().count("its token expired")
    try:
        assert client.api_key == short
        async with Worker(client, task_queue=queue, workflows=[shouted], activities=[loud]):
            wid = f"w-{uuid.uuid4().hex[:8]}"
            assert await client.execute_workflow(shouted, "a", id=wid, task_queue=queue) == "A"
            fresh["now"] = True
            await _until(lambda: srv.log().count("its token expired") >= closed_before + 2, "both channels to close")
            assert await client.execute_workflow(shouted, "b", id=f"w-{uuid.uuid4().hex[:8]}", task_queue=queue) == "B"
        assert client.api_key != short
        # Over plain HTTP: the expired token is refused, a fresh one asked for, the request sent again.
        client.api_key = short
        asked = len(handed)
        assert (await client.get_workflow_handle(wid).describe()).status.name == "COMPLETED"
        assert len(handed) == asked + 1 and client.api_key == handed[-1] != short
    finally:
        await client.close()
