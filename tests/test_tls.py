"""TLS and mutual TLS, on real processes, with certificates made here (the ``cryptography`` package): a CA, a
server certificate for localhost and 127.0.0.1, a client certificate, and a client certificate of another CA.

A TLS server serves HTTPS on its API and UI ports; a worker and a client with ``TLSConfig`` (or the
``MAINSPRING_TLS_*`` variables) run a workflow end to end, the CLI with ``--tls-ca``; a plain client, an
untrusted CA, a wrong name, a missing or foreign client certificate each fail with a ``TLSError`` (SDK) or
one line and exit 4 (CLI) saying what to fix; certificate files replaced while the server runs are used
by the next connection; bad files at start stop the server with one line naming the file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mainspring import Client
from mainspring.client import TLSConfig
from mainspring.errors import InvalidAddressError, InvalidArgumentError, TLSError
from server_start import StartProcess
from support import PYTHON, ServerProcess, WorkerProcess, chromium, free_port, run_cli, wait_until

pytestmark = pytest.mark.slow

EXTRA_WORKER = Path(__file__).resolve().parent / "workers" / "extra_worker.py"
TASK_QUEUE = "tls-task-queue"


# --- certificates ---------------------------------------------------------------------------------------


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Authority:
    """A CA that signs certificates."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def make(cls, name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @property
    def pem(self) -> bytes:
        return _pem(self.cert)

    def issue(self, name: str, *, server: bool) -> tuple[bytes, bytes, int]:
        """A certificate (PEM), its key (PEM) and its serial: for localhost and 127.0.0.1 if ``server``,
        else a client's."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        serial = x509.random_serial_number()
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return _pem(builder.sign(self.key, hashes.SHA256())), _pem_key(key), serial


@dataclass(frozen=True)
class Files:
    """The certificates of a test, as files in its folder."""

    folder: Path
    ca: Authority
    other_ca: Authority

    @property
    def ca_pem(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.folder / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.folder / "server.key"

    @property
    def client_cert(self) -> Path:
        return self.folder / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.folder / "client.key"

    @property
    def other_cert(self) -> Path:
        return self.folder / "other.pem"

    @property
    def other_key(self) -> Path:
        return self.folder / "other.key"

    def new_server_cert(self) -> int:
        """Replace the server's certificate and key with a new pair (each file written at once); its serial."""
        cert, key, serial = self.ca.issue("server", server=True)
        _replace(self.server_cert, cert)
        _replace(self.server_key, key)
        return serial

    def tls_config(self, client: str | None = None) -> TLSConfig:
        """The SDK's TLS settings: this CA trusted, and the ``client`` ("client" or "other") certificate."""
        if client is None:
            return TLSConfig(server_root_ca_cert=self.ca.pem)
        return TLSConfig(
            server_root_ca_cert=self.ca.pem,
            client_cert=(self.folder / f"{client}.pem").read_bytes(),
            client_private_key=(self.folder / f"{client}.key").read_bytes(),
        )

    def context(self, client: str | None = None) -> ssl.SSLContext:
        """An ``ssl`` client context trusting this CA (with the ``client`` certificate) for httpx and probes."""
        context = ssl.create_default_context(cafile=str(self.ca_pem))
        if client is not None:
            context.load_cert_chain(self.folder / f"{client}.pem", self.folder / f"{client}.key")
        return context

    def env(self, client: str | None = None) -> dict[str, str]:
        """The ``MAINSPRING_TLS_*`` variables for a worker or the CLI."""
        env = {"MAINSPRING_TLS_CA": str(self.ca_pem)}
        if client is not None:
            env |= {
                "MAINSPRING_TLS_CERT": str(self.folder / f"{client}.pem"),
                "MAINSPRING_TLS_KEY": str(self.folder / f"{client}.key"),
            }
        return env


def _replace(path: Path, data: bytes) -> None:
    """Write ``path`` at once (a new file renamed over it), as a certificate manager does."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@pytest.fixture
def certs(tmp_path: Path) -> Files:
    folder = tmp_path / "certs"
    folder.mkdir()
    ca, other_ca = Authority.make("Test CA"), Authority.make("Another CA")
    files = Files(folder, ca, other_ca)
    files.ca_pem.write_bytes(ca.pem)
    files.new_server_cert()
    for name, authority in (("client", ca), ("other", other_ca)):
        cert, key, _ = authority.issue(name, server=False)
        (folder / f"{name}.pem").write_bytes(cert)
        (folder / f"{name}.key").write_bytes(key)
    return files


# --- servers --------------------------------------------------------------------------------------------


class TLSServer(ServerProcess):
    """A dev server with ``--tls-cert`` and ``--tls-key`` (and ``--tls-client-ca`` if ``mutual``)."""

    def __init__(self, db: Path, certs: Files, *, mutual: bool = False, extra_args: Sequence[str] = ()) -> None:
        args = ["--tls-cert", str(certs.server_cert), "--tls-key", str(certs.server_key), *extra_args]
        if mutual:
            args += ["--tls-client-ca", str(certs.ca_pem)]
        super().__init__(db, extra_args=args)
        self.certs = certs
        self.mutual = mutual

    @property
    def url(self) -> str:
        return f"https://{self.address}"

    @property
    def ui_url(self) -> str:
        return f"https://127.0.0.1:{self.ui_port}"

    def http(self) -> httpx.Client:
        """An HTTPS client that trusts the test CA (with the client certificate under mutual TLS)."""
        return httpx.Client(verify=self.certs.context("client" if self.mutual else None), timeout=5)

    def healthy(self) -> bool:
        try:
            with self.http() as http:
                return http.get(self.url + "/api/v1/health").status_code == 200
        except httpx.HTTPError:
            return False


@pytest.fixture
def tls_server(tmp_path: Path, certs: Files) -> Iterator[TLSServer]:
    srv = TLSServer(tmp_path / "mainspring.db", certs).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def mtls_server(tmp_path: Path, certs: Files) -> Iterator[TLSServer]:
    srv = TLSServer(tmp_path / "mainspring.db", certs, mutual=True).start()
    try:
        yield srv
    finally:
        srv.stop()


def tls_worker(server: TLSServer, tmp_path: Path, env: dict[str, str]) -> WorkerProcess:
    """tests/workers/extra_worker.py (timer_workflow and friends), given its TLS by the environment."""
    return WorkerProcess(
        EXTRA_WORKER,
        server.address,
        args=["--task-queue", TASK_QUEUE],
        env=env,
        log_path=tmp_path / f"worker-{uuid.uuid4().hex[:6]}.log",
    )


def peer_serial(port: int, certs: Files) -> int:
    """The serial of the certificate the server presents on ``port`` to a new connection."""
    context = certs.context()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname="127.0.0.1") as conn,
    ):
        der = conn.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def cli(*args: str, server: ServerProcess, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # The test run's own MAINSPRING_TLS* variables (if any) are not this command's.
    base = {k: "" for k in ("MAINSPRING_TLS", "MAINSPRING_TLS_CA", "MAINSPRING_TLS_CERT", "MAINSPRING_TLS_KEY")}
    return run_cli(*args, address=server.address, env={**base, **(env or {})}, timeout=30)


def error_line(r: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command printed on stderr (no traceback)."""
    assert r.returncode != 0, f"expected a failure, got exit 0:\n{r.stdout}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{r.stderr}"
    assert lines[0].startswith("Error: "), lines[0]
    return lines[0]


async def health(address: str, tls: bool | TLSConfig) -> str:
    """The server's health status through a client (over HTTP and over the client channel)."""
    client = await Client.connect(address, tls=tls, timeout=5)
    try:
        status: str = (await client.transport.call("GET", "/api/v1/health"))["status"]
        assert await client._open_channel() is not None
        return status
    finally:
        await client.close()


async def tls_error(address: str, tls: bool | TLSConfig, *, channel: bool = False) -> TLSError:
    """The ``TLSError`` a client gets from the server at ``address`` (over HTTP, or opening its channel)."""
    client = await Client.connect(address, tls=tls, timeout=5)
    try:
        with pytest.raises(TLSError) as caught:
            if channel:
                await client._open_channel()
            else:
                await client.transport.call("GET", "/api/v1/health")
        return caught.value
    finally:
        await client.close()


# --- TLS ------------------------------------------------------------------------------------------------


async def test_a_workflow_runs_end_to_end_over_tls(tls_server: TLSServer, certs: Files, tmp_path: Path) -> None:
    # The worker takes its TLS from MAINSPRING_TLS_CA, as a deployed worker would (its channel is wss://).
    worker = tls_worker(tls_server, tmp_path, certs.env()).start()
    try:
        client = await Client.connect(tls_server.address, tls=certs.tls_config())
        try:
            assert client.transport.base_url == f"https://{tls_server.address}"
            result = await client.execute_workflow(
                "timer_workflow", {"seconds": 0.1}, id=f"tls-{uuid.uuid4().hex[:8]}", task_queue=TASK_QUEUE
            )
            assert result == "woke"
        finally:
            await client.close()
        # An https:// address means TLS by itself (here with the test CA, for the certificate).
        assert await health(f"https://localhost:{tls_server.port}", certs.tls_config()) == "ok"
    finally:
        worker.stop()


def test_both_ports_serve_https_and_the_ui_page(tls_server: TLSServer) -> None:
    with tls_server.http() as http:
        page = http.get(tls_server.ui_url + "/", follow_redirects=True)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert http.get(tls_server.url + "/api/v1/health").json()["status"] == "ok"
        # The UI's own pages are https:// origins now: their calls pass the Origin check.
        origin = f"https://127.0.0.1:{tls_server.ui_port}"
        answer = http.get(tls_server.ui_url + "/api/v1/namespaces/default/workflows", headers={"origin": origin})
        assert answer.status_code == 200, answer.text
        # ...and a page on the plain-HTTP origin of the same name and port is not the server's.
        refused = http.get(
            tls_server.ui_url + "/api/v1/namespaces/default/workflows",
            headers={"origin": f"http://127.0.0.1:{tls_server.ui_port}"},
        )
        assert refused.status_code == 403
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://{tls_server.address}/api/v1/health", timeout=5)
    assert "https://" in tls_server.log() and "TLS" in tls_server.log()


def test_the_metrics_port_serves_https_too(tmp_path: Path, certs: Files) -> None:
    metrics_port = free_port()
    server = TLSServer(tmp_path / "mainspring.db", certs, extra_args=["--metrics-port", str(metrics_port)]).start()
    try:
        with server.http() as http:
            scrape = http.get(f"https://127.0.0.1:{metrics_port}/metrics")
        assert scrape.status_code == 200 and "mainspring_build_info" in scrape.text
        assert f"https://127.0.0.1:{metrics_port}/metrics" in server.log()
    finally:
        server.stop()


def test_the_cli_starts_and_describes_a_workflow_with_tls_ca(tls_server: TLSServer, certs: Files) -> None:
    workflow_id = f"cli-tls-{uuid.uuid4().hex[:8]}"
    ca = ["--tls-ca", str(certs.ca_pem)]
    started = cli(
        "workflow", "start", "--type", "timer_workflow", "--task-queue", TASK_QUEUE, "--workflow-id", workflow_id,
        "--input", '{"seconds": 1}', *ca, server=tls_server,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    described = cli("workflow", "describe", "--workflow-id", workflow_id, "-o", "json", *ca, server=tls_server)
    assert described.returncode == 0, described.stderr
    assert json.loads(described.stdout)["execution"]["status"] == "RUNNING"
    # Temporal's spelling, and the environment variable, do the same.
    assert cli("workflow", "list", "--tls-ca-path", str(certs.ca_pem), server=tls_server).returncode == 0
    assert cli("workflow", "list", server=tls_server, env={"MAINSPRING_TLS_CA": str(certs.ca_pem)}).returncode == 0


async def test_a_plain_client_to_a_tls_server_is_told_to_use_tls(tls_server: TLSServer) -> None:
    for channel in (False, True):
        error = await tls_error(tls_server.address, False, channel=channel)
        assert error.code == "tls_required"
        assert "speaks only TLS" in error.message and "--tls" in error.message
    r = cli("workflow", "list", server=tls_server)
    assert r.returncode == 4
    assert "speaks only TLS (HTTPS): connect with --tls" in error_line(r)
    # The async commands (the SDK's client) say the same.
    r = cli("workflow", "describe", "--workflow-id", "x", server=tls_server)
    assert r.returncode == 4 and "speaks only TLS" in error_line(r)


async def test_an_untrusted_certificate_or_another_name_is_refused_with_the_fix(
    tls_server: TLSServer, certs: Files
) -> None:
    # tls=True trusts the system's CAs, which did not sign the test certificate.
    error = await tls_error(tls_server.address, True)
    assert error.code == "tls_untrusted" and "--tls-ca" in error.message
    r = cli("workflow", "list", "--tls", server=tls_server)
    assert r.returncode == 4
    assert "is not signed by a CA you trust" in error_line(r) and "pass the CA's certificate with --tls-ca" in r.stderr
    wrong_name = TLSConfig(server_root_ca_cert=certs.ca.pem, domain="db.example.com")
    error = await tls_error(tls_server.address, wrong_name, channel=True)
    assert error.code == "tls_hostname" and "--tls-server-name" in error.message
    r = cli("workflow", "list", "--tls-ca", str(certs.ca_pem), "--tls-server-name", "db.example.com", server=tls_server)
    assert r.returncode == 4 and "is not for the name you connected to" in error_line(r)
    # The name the certificate is for, given when the address is another: accepted.
    assert await health(tls_server.address, TLSConfig(server_root_ca_cert=certs.ca.pem, domain="localhost")) == "ok"


async def test_a_tls_client_to_a_plain_server_is_told_it_does_not_speak_tls(tmp_path: Path, certs: Files) -> None:
    plain = ServerProcess(tmp_path / "plain.db").start()
    try:
        error = await tls_error(plain.address, certs.tls_config())
        assert error.code == "tls_not_offered" and "does not speak TLS" in error.message
        r = cli("workflow", "list", "--tls-ca", str(certs.ca_pem), server=plain)
        assert r.returncode == 4 and "does not speak TLS" in error_line(r)
    finally:
        plain.stop()


# --- mutual TLS -----------------------------------------------------------------------------------------


async def test_mutual_tls_accepts_only_a_client_certificate_of_its_ca(
    mtls_server: TLSServer, certs: Files, tmp_path: Path
) -> None:
    address = mtls_server.address
    for channel in (False, True):
        missing = await tls_error(address, certs.tls_config(), channel=channel)
        assert missing.code == "tls_client_cert_required" and "--tls-cert and --tls-key" in missing.message
        foreign = await tls_error(address, certs.tls_config("other"), channel=channel)
        assert foreign.code == "tls_client_cert_refused" and "--tls-client-ca" in foreign.message
    assert await health(address, certs.tls_config("client")) == "ok"

    ca = ["--tls-ca", str(certs.ca_pem)]
    r = cli("workflow", "list", *ca, server=mtls_server)
    assert r.returncode == 4 and "requires a client certificate" in error_line(r)
    other = ["--tls-cert", str(certs.other_cert), "--tls-key", str(certs.other_key)]
    r = cli("workflow", "list", *ca, *other, server=mtls_server)
    assert r.returncode == 4 and "refused your client certificate" in error_line(r)
    mine = ["--tls-cert-path", str(certs.client_cert), "--tls-key-path", str(certs.client_key)]
    r = cli("workflow", "list", *ca, *mine, server=mtls_server)
    assert r.returncode == 0, r.stderr
    r = cli("workflow", "describe", "--workflow-id", "nope", server=mtls_server, env=certs.env("client"))
    assert r.returncode == 3 and "not found" in r.stderr  # through: the server answered
    r = cli("workflow", "list", *ca, "--tls-cert", str(certs.client_cert), server=mtls_server)
    assert r.returncode == 2 and "--tls-cert and --tls-key go together" in error_line(r)

    # A worker with the right certificate runs workflows; one without stops at once, saying why.
    worker = tls_worker(mtls_server, tmp_path, certs.env("client")).start()
    try:
        client = await Client.connect(address, tls=certs.tls_config("client"))
        try:
            result = await client.execute_workflow(
                "timer_workflow", {"seconds": 0.1}, id=f"mtls-{uuid.uuid4().hex[:8]}", task_queue=TASK_QUEUE
            )
            assert result == "woke"
        finally:
            await client.close()
    finally:
        worker.stop()
    refused = tls_worker(mtls_server, tmp_path, certs.env()).start(wait_ready=False)
    assert refused.proc is not None
    await asyncio.to_thread(refused.proc.wait, 20)
    assert refused.proc.returncode != 0
    assert "requires a client certificate" in refused.log()


def test_the_ui_port_asks_for_the_client_certificate_too(mtls_server: TLSServer, certs: Files) -> None:
    # It serves the same API as the API port: without a certificate, it would be a way round (see server._tls).
    with pytest.raises(httpx.HTTPError):
        httpx.get(mtls_server.ui_url + "/", verify=certs.context(), timeout=5)
    with httpx.Client(verify=certs.context("client"), timeout=5) as http:
        assert http.get(mtls_server.ui_url + "/", follow_redirects=True).status_code == 200


def test_the_web_ui_works_in_a_browser_with_its_client_certificate(mtls_server: TLSServer, certs: Files) -> None:
    from playwright.sync_api import Error, expect

    workflow_id = f"ui-tls-{uuid.uuid4().hex[:8]}"
    started = cli(
        "workflow", "start", "--type", "timer_workflow", "--task-queue", TASK_QUEUE, "--workflow-id", workflow_id,
        "--input", '{"seconds": 60}', server=mtls_server, env=certs.env("client"),
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    origin = mtls_server.ui_url
    mine = [{"origin": origin, "certPath": str(certs.client_cert), "keyPath": str(certs.client_key)}]
    with chromium() as browser:
        # (The browser does not know the test CA: its certificate errors are waved through, nothing else.)
        context = browser.new_context(ignore_https_errors=True, client_certificates=mine)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(origin + "/")
        # The list is the page calling the API on its own https:// origin: the Origin check lets it through.
        row = page.locator("table.runs tbody tr", has=page.get_by_role("link", name=workflow_id, exact=True))
        expect(row.locator(".badge")).to_have_text("RUNNING", timeout=15_000)
        assert not errors, errors
        context.close()
        stranger = browser.new_context(ignore_https_errors=True)
        with pytest.raises(Error):
            stranger.new_page().goto(origin + "/", timeout=10_000)
        stranger.close()


# --- reloading ------------------------------------------------------------------------------------------


def test_replaced_certificate_files_are_used_without_a_restart(tls_server: TLSServer, certs: Files) -> None:
    port, ui_port = tls_server.port, tls_server.ui_port
    first = peer_serial(port, certs)
    assert peer_serial(ui_port, certs) == first
    pid = tls_server.proc.pid if tls_server.proc else None

    second = certs.new_server_cert()
    wait_until(lambda: peer_serial(port, certs) == second, timeout=10, what="the new certificate on the API port")
    assert peer_serial(ui_port, certs) == second

    # A certificate whose key has not been written yet (a copy in two steps): the previous pair stays.
    cert, _key, third = certs.ca.issue("server", server=True)
    _replace(certs.server_cert, cert)
    wait_until(lambda: "cannot be used" in tls_server.log(), timeout=10, what="the server to refuse the half pair")
    assert "is not the key of the certificate" in tls_server.log()
    assert peer_serial(port, certs) == second
    with tls_server.http() as http:
        assert http.get(tls_server.url + "/api/v1/health").status_code == 200
    # ...until the key arrives.
    _replace(certs.server_key, _key)
    wait_until(lambda: peer_serial(port, certs) == third, timeout=10, what="the completed pair")
    assert tls_server.proc is not None and tls_server.proc.pid == pid and tls_server.proc.poll() is None


async def test_a_replaced_client_ca_file_trusts_only_its_new_cas(tmp_path: Path, certs: Files) -> None:
    server = TLSServer(tmp_path / "mainspring.db", certs, mutual=True).start()
    try:
        assert await health(server.address, certs.tls_config("client")) == "ok"
        # The operator moves clients to another CA: the old one's certificates are refused from then on.
        _replace(certs.ca_pem, certs.other_ca.pem)
        server_ca = TLSConfig(server_root_ca_cert=certs.ca.pem)  # the server's own certificate is unchanged

        async def switched() -> bool:
            try:
                await health(server.address, dataclasses.replace(server_ca, **_client(certs, "other")))
                return True
            except TLSError:
                return False

        for _ in range(100):
            if await switched():
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the new client CA was not used")
        error = await tls_error(server.address, dataclasses.replace(server_ca, **_client(certs, "client")))
        assert error.code == "tls_client_cert_refused"
    finally:
        server.stop()


def _client(certs: Files, name: str) -> dict[str, bytes]:
    return {
        "client_cert": (certs.folder / f"{name}.pem").read_bytes(),
        "client_private_key": (certs.folder / f"{name}.key").read_bytes(),
    }


def test_server_start_takes_tls_from_its_config_file_and_environment(tmp_path: Path, certs: Files) -> None:
    config = tmp_path / "mainspring.toml"
    port, ui_port = free_port(), free_port()
    config.write_text(
        f'port = {port}\nui-port = {ui_port}\ndb = ":memory:"\ntls-cert = "{certs.server_cert}"\n'
        f'tls_client_ca = "{certs.ca_pem}"\n'
    )
    server = StartProcess(
        ["--config", str(config)],
        tmp_path / "start.log",
        env={"MAINSPRING_TLS_KEY": str(certs.server_key)},
    )
    try:
        banner = server.wait_ready()
        assert f"https://127.0.0.1:{port}" in banner and "client certificates signed by" in banner
        with httpx.Client(verify=certs.context("client"), timeout=5) as http:
            assert http.get(f"https://127.0.0.1:{port}/api/v1/health").status_code == 200
    finally:
        server.stop()


# --- bad files at start ---------------------------------------------------------------------------------


def _start_fails(tmp_path: Path, *args: str) -> str:
    """Start a server with ``args``; require it to exit non-zero with one line; that line."""
    r = subprocess.run(
        [PYTHON, "-m", "mainspring", "server", "start-dev", "--db", ":memory:", "--port", str(free_port()),
         "--ui-port", str(free_port()), *args],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode != 0, r.stdout
    assert "Traceback" not in r.stderr, r.stderr
    return error_line(r)


@pytest.mark.parametrize(
    "case",
    ["missing cert", "key of another cert", "cert without key", "not a certificate", "half a certificate"],
)
def test_bad_tls_files_stop_the_server_at_start_naming_the_file(tmp_path: Path, certs: Files, case: str) -> None:
    cert, key = str(certs.server_cert), str(certs.server_key)
    half = tmp_path / "half.pem"
    half.write_bytes(certs.server_cert.read_bytes()[:200])
    args, named = {
        "missing cert": (["--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", key], "nope.pem"),
        "key of another cert": (["--tls-cert", cert, "--tls-key", str(certs.other_key)], str(certs.other_key)),
        "cert without key": (["--tls-cert", cert], "--tls-key"),
        "not a certificate": (["--tls-cert", key, "--tls-key", key], "holds no PEM certificate"),
        "half a certificate": (["--tls-cert", str(half), "--tls-key", key], str(half)),
    }[case]
    line = _start_fails(tmp_path, *args)
    assert named in line, line


def test_a_client_ca_without_a_certificate_or_a_bad_client_ca_is_refused(tmp_path: Path, certs: Files) -> None:
    assert "--tls-client-ca needs TLS" in _start_fails(tmp_path, "--tls-client-ca", str(certs.ca_pem))
    line = _start_fails(
        tmp_path,
        *("--tls-cert", str(certs.server_cert), "--tls-key", str(certs.server_key)),
        *("--tls-client-ca", str(certs.server_key)),
    )
    assert str(certs.server_key) in line and "client CA file" in line


# --- the SDK's settings, without a server ----------------------------------------------------------------


async def test_tls_settings_are_checked_at_connect(certs: Files) -> None:
    with pytest.raises(InvalidArgumentError, match="client_cert without client_private_key"):
        TLSConfig(client_cert=certs.client_cert.read_bytes())
    with pytest.raises(InvalidArgumentError, match="the key is not the client certificate's") as caught:
        await Client.connect(
            "localhost:7233",
            tls=TLSConfig(client_cert=certs.client_cert.read_bytes(), client_private_key=certs.other_key.read_bytes()),
        )
    assert caught.value.code == "tls_config"
    with pytest.raises(InvalidArgumentError, match="holds no usable PEM certificate"):
        await Client.connect("localhost:7233", tls=TLSConfig(server_root_ca_cert=b"not a certificate"))
    with pytest.raises(InvalidAddressError, match="http:// URL"):
        await Client.connect("http://localhost:7233", tls=True)
    client = await Client.connect("https://localhost:7233")
    assert client.transport.tls == TLSConfig() and client.transport.base_url == "https://localhost:7233"
    await client.close()
