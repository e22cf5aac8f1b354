"""``mainspring codec-server`` over real HTTP (Temporal's protocol: POST /encode and /decode with
``{"payloads": [...]}``), its CORS for the web UI's origin and its refusals; and the CLI's
``--codec-endpoint``: ``workflow describe``, ``show`` and ``result`` print encoded payloads as stored (and
say so) without it, and clear text through the codec server with it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

import mainspring.converter
from mainspring import Client
from mainspring._codec import RemoteCodec, WireCodec
from mainspring._payload_mark import is_encoded
from mainspring.cli._codec_server import build_app
from mainspring.converter import Payload, PayloadCodec
from support import EXAMPLES, PYTHON, ServerProcess, WorkerProcess, free_port, run_cli, wait_until

sys.path.insert(0, str(EXAMPLES / "encryption"))
from codec import EncryptionCodec
from workflows import EncryptedOrder, Order

SECRET = "3782-CLI-SECRET-0005"
UI_ORIGIN = "http://localhost:8233"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def codec_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "codec.log"
    args = ["codec-server", "--codec", "codec:EncryptionCodec", "--port", str(port), "--cors-origin", UI_ORIGIN]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [PYTHON, "-m", "mainspring", *args], cwd=EXAMPLES / "encryption", stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return proc.poll() is not None

    try:
        wait_until(up, 20, what="the codec server")
        assert proc.poll() is None, log.read_text()
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_encode_and_decode_round_trip_over_http_in_temporals_shape(codec_url: str) -> None:
    plain = {"metadata": {"encoding": _b64(b"json/plain")}, "data": _b64(json.dumps(SECRET).encode())}
    enc = httpx.post(codec_url + "/encode", json={"payloads": [plain, plain]}, headers={"X-Namespace": "default"})
    assert enc.status_code == 200, enc.text
    encoded = enc.json()["payloads"]
    assert len(encoded) == 2 and encoded[0]["data"] != encoded[1]["data"]  # a fresh nonce each
    assert base64.b64decode(encoded[0]["metadata"]["encoding"]) == b"binary/encrypted"
    assert base64.b64decode(encoded[0]["metadata"]["encryption-key-id"]) == b"demo-key"
    assert SECRET not in enc.text
    dec = httpx.post(codec_url + "/decode", json={"payloads": encoded})
    assert dec.status_code == 200 and dec.json()["payloads"] == [plain, plain]


async def test_the_sdk_decodes_through_a_codec_server_as_a_codec(codec_url: str) -> None:
    # RemoteCodec is what the CLI uses: the same answers as the codec in process.
    local, remote = WireCodec(EncryptionCodec()), WireCodec(RemoteCodec(codec_url))
    marks = await local.encode_values([{"card": SECRET}, [1, 2]])
    assert await remote.decode_values(marks) == [{"card": SECRET}, [1, 2]]
    assert await local.decode_values(await remote.encode_values(["x"])) == ["x"]


def test_cors_for_the_ui_origin_only_and_refusals_without_leaks(codec_url: str) -> None:
    pre = httpx.options(
        codec_url + "/decode",
        headers={
            "Origin": UI_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        },
    )
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == UI_ORIGIN
    assert "x-namespace" in pre.headers["access-control-allow-headers"].lower()
    other = httpx.options(
        codec_url + "/decode", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in other.headers
    bad = httpx.post(codec_url + "/decode", content=b"not json")
    assert bad.status_code == 400 and "payloads" in bad.json()["message"]
    # A payload the key cannot open: 500 naming the error type, nothing of the payload.
    forged = {"metadata": {"encoding": _b64(b"binary/encrypted"), "encryption-key-id": _b64(b"demo-key")}}
    forged["data"] = _b64(b"\0" * 40)
    failed = httpx.post(codec_url + "/decode", json={"payloads": [forged]})
    assert failed.status_code == 500 and "InvalidTag" in failed.json()["message"]


class Tagging(PayloadCodec):
    """Tags each payload with the namespace its codec was made for."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload({**p.metadata, "ns": self.namespace.encode()}, p.data) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


async def test_a_factory_that_takes_namespace_gets_the_x_namespace_header() -> None:
    made: list[str] = []

    def factory(namespace: str) -> Tagging:
        made.append(namespace)
        return Tagging(namespace)

    app = build_app(factory)
    plain = {"metadata": {"encoding": _b64(b"json/plain")}, "data": _b64(b"1")}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codec") as http:
        for ns in ("teamA", "teamB", "teamA"):
            r = await http.post("/encode", json={"payloads": [plain]}, headers={"X-Namespace": ns})
            assert base64.b64decode(r.json()["payloads"][0]["metadata"]["ns"]) == ns.encode()
    assert made == ["teamA", "teamB"]  # one codec per namespace, made once


def test_a_ui_codec_endpoint_must_be_an_http_url(tmp_path: Path) -> None:
    done = run_cli("server", "start-dev", "--db-filename", str(tmp_path / "x.db"), "--ui-codec-endpoint", "ftp://x")
    assert done.returncode == 2 and "expected an http(s) URL" in done.stderr, done.stderr


def test_a_codec_spec_that_names_nothing_is_a_usage_error() -> None:
    for spec, said in (("nocolon", "MODULE:NAME"), ("no_such_module_x:C", "cannot import"), ("json:Nope", "no 'Nope'")):
        done = run_cli("codec-server", "--codec", spec, "--port", "0")
        assert done.returncode == 2 and said in done.stderr, done.stderr


async def test_the_cli_prints_stored_payloads_and_says_so_or_decodes_them_through_the_codec_server(
    server: ServerProcess, codec_url: str, task_queue: str, tmp_path: Path
) -> None:
    worker = WorkerProcess(
        EXAMPLES / "encryption" / "worker.py",
        server.address,
        args=["--task-queue", task_queue],
        log_path=tmp_path / "w",
    )
    worker.start()
    try:
        converter = dataclasses.replace(mainspring.converter.default(), payload_codec=EncryptionCodec())
        wid = f"cli-{uuid.uuid4().hex[:6]}"
        async with await Client.connect(server.address, data_converter=converter) as client:
            handle = await client.start_workflow(
                EncryptedOrder.run, Order(customer="Lin", card_number=SECRET), id=wid, task_queue=task_queue
            )
            await handle.signal(EncryptedOrder.add_note, "ok")
            expected = await handle.result()
    finally:
        worker.stop()
    for command in (["describe"], ["show"], ["result"]):
        blind = run_cli("workflow", *command, "-w", wid, "-o", "json", address=server.address)
        assert blind.returncode == 0, blind.stderr
        assert SECRET not in blind.stdout and "$payload" in blind.stdout
        assert "encoded by a payload codec (binary/encrypted)" in blind.stderr and "--codec-endpoint" in blind.stderr
        seen = run_cli(
            "workflow", *command, "-w", wid, "-o", "json", "--codec-endpoint", codec_url, address=server.address
        )
        assert seen.returncode == 0, seen.stderr
        assert SECRET in seen.stdout and "$payload" not in seen.stdout and seen.stderr == ""
    result = json.loads(
        run_cli("workflow", "result", "-w", wid, "--codec-endpoint", codec_url, address=server.address).stdout
    )
    assert result == expected
    text = run_cli("workflow", "show", "-w", wid, address=server.address)
    assert text.returncode == 0 and SECRET not in text.stdout
    blind_result = json.loads(run_cli("workflow", "result", "-w", wid, address=server.address).stdout)
    assert is_encoded(blind_result)
    # `workflow replay` of the encoded history: through the codec server it fits the code; without, it
    # fails saying why.
    env = {"PYTHONPATH": str(EXAMPLES / "encryption")}
    replay = ["workflow", "replay", "-m", "workflows", "-w", wid]
    fits = run_cli(*replay, "--codec-endpoint", codec_url, address=server.address, env=env)
    assert fits.returncode == 0 and "1 replayed, 0 failed" in fits.stderr + fits.stdout, fits.stderr
    unfit = run_cli(*replay, address=server.address, env=env)
    assert unfit.returncode == 1 and "no payload codec is configured" in unfit.stdout, unfit.stdout + unfit.stderr
    down = run_cli("workflow", "describe", "-w", wid, "--codec-endpoint", "http://127.0.0.1:9", address=server.address)
    assert down.returncode != 0 and "could not reach the codec server" in down.stderr


def test_with_an_auth_server_it_decodes_only_for_the_roles_that_may_see(tmp_path: Path) -> None:
    from support import first_api_key, make_api_key

    server = ServerProcess(tmp_path / "auth.db", extra_args=["--auth", "api-key", "--namespace", "other"]).start()
    port = free_port()
    args = ["codec-server", "--codec", "codec:EncryptionCodec", "--port", str(port), "--auth-server", server.address]
    with open(tmp_path / "codec.log", "ab") as out:
        proc = subprocess.Popen(
            [PYTHON, "-m", "mainspring", *args], cwd=EXAMPLES / "encryption", stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(url + "/health", timeout=1).status_code == 200, 20, what="the codec server")
        admin = first_api_key(server)
        reader = make_api_key(server, admin, "default", "reader")
        writer = make_api_key(server, admin, "default", "writer")
        other = make_api_key(server, admin, "other", "admin")
        clear = {"payloads": [{"metadata": {"encoding": _b64(b"json/plain")}, "data": _b64(b'"card 4242"')}]}

        def call(what: str, key: str | None, body: dict[str, object], namespace: str = "default") -> httpx.Response:
            headers = {"x-namespace": namespace, **({"authorization": f"Bearer {key}"} if key else {})}
            return httpx.post(f"{url}/{what}", json=body, headers=headers, timeout=30)

        encoded = call("encode", writer, clear)
        assert encoded.status_code == 200, encoded.text
        assert call("encode", reader, clear).status_code == 403  # a reader sends nothing
        decoded = call("decode", reader, encoded.json())
        assert decoded.status_code == 200 and decoded.json() == clear
        for key, status in ((None, 401), ("msk_" + "0" * 12 + "_" + "A" * 43, 401), (other, 403)):
            refused = call("decode", key, encoded.json())
            assert refused.status_code == status, (key, refused.text)
            assert "4242" not in refused.text
        assert call("decode", other, encoded.json(), namespace="other").status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
        server.stop()
