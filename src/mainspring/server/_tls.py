"""The server's TLS (``--tls-cert``, ``--tls-key``, ``--tls-client-ca``): one ``ssl.SSLContext`` for all of
its ports, and certificates reloaded without a restart.

Reloading: the files are watched (their size, mtime and inode, once a second). When one changes, a whole
new context is built from them and checked (the key matches the certificate, the CA file holds
certificates) before it is used: a half-written file or a key from another pair leaves the old context
serving and logs a warning, and the next change is tried again. The context handed to uvicorn stays the
same object; its SNI callback, which OpenSSL calls on every handshake (also without SNI, e.g. to an IP
address), moves the connection onto the newest context. So new connections get the new certificate and
trust the new client CA file (a CA removed from it is no longer trusted), and open connections keep the
one they started with.

Mutual TLS (a client CA): every port requires a client certificate signed by it, the web UI's too. The UI
port serves the whole API to the browser, so a UI port that let a browser in without a certificate would
let anyone call the API there and make mutual TLS on the API port pointless; a browser that is to use the
UI needs the client certificate installed (every browser can present one).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from dataclasses import dataclass

from .._tls import EncryptedKeyError, no_passphrase
from ..errors import MainspringError

__all__ = ["ServerTLS", "TLSFileError", "TLSFiles"]

log = logging.getLogger(__name__)

#: Seconds between looks at the certificate files.
POLL_SECONDS = 1.0


class TLSFileError(MainspringError):
    """A TLS file cannot be used; the message names the file and the flag that gave it."""


@dataclass(frozen=True)
class TLSFiles:
    """Where the server's certificate, its key and (for mutual TLS) the client CA certificates are."""

    #: PEM certificate chain (the server's certificate first), ``--tls-cert``.
    cert: str
    #: PEM private key of that certificate, unencrypted, ``--tls-key``.
    key: str
    #: PEM CA certificates that sign client certificates, ``--tls-client-ca``; None: no client certificates.
    client_ca: str | None = None

    @classmethod
    def from_settings(cls, cert: str | None, key: str | None, client_ca: str | None) -> TLSFiles | None:
        """The files from the three settings; None without TLS. Raises ``TLSFileError`` for an
        incomplete set (a certificate without its key, a key or client CA without a certificate)."""
        if cert is None and key is None:
            if client_ca is not None:
                raise TLSFileError(
                    "--tls-client-ca needs TLS: give the server's certificate with --tls-cert and --tls-key"
                )
            return None
        if cert is None:
            raise TLSFileError("--tls-key needs the certificate it belongs to: give it with --tls-cert")
        if key is None:
            raise TLSFileError(f"--tls-cert {cert} needs its private key: give it with --tls-key")
        return cls(cert=cert, key=key, client_ca=client_ca)


def _read(path: str, flag: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise TLSFileError(f"cannot read the {what} {path} ({flag}): {e.strerror or e}") from None


def build_context(files: TLSFiles) -> ssl.SSLContext:
    """A server context from ``files``, checked; ``TLSFileError`` naming the file if one cannot be used."""
    cert = _read(files.cert, "--tls-cert", "TLS certificate file")
    key = _read(files.key, "--tls-key", "TLS key file")
    if b"-----BEGIN CERTIFICATE-----" not in cert:
        raise TLSFileError(f"the TLS certificate file {files.cert} (--tls-cert) holds no PEM certificate")
    if b"PRIVATE KEY-----" not in key:
        raise TLSFileError(f"the TLS key file {files.key} (--tls-key) holds no PEM private key")
    # A file cut short (still being written, or copied in part) is said as such, not as OpenSSL's "PEM lib".
    if cert.count(b"-----BEGIN CERTIFICATE-----") != cert.count(b"-----END CERTIFICATE-----"):
        raise TLSFileError(f"the TLS certificate file {files.cert} (--tls-cert) ends within a certificate (cut short?)")
    if key.count(b"-----BEGIN ") != key.count(b"-----END "):
        raise TLSFileError(f"the TLS key file {files.key} (--tls-key) ends within the key (cut short?)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        # From the files themselves (read a second time: the bytes above only word the errors). A file
        # replaced between the two reads makes a context that fails here or serves the newer pair:
        # either way whole, as a context is used only once built.
        context.load_cert_chain(files.cert, files.key, password=no_passphrase)
    except EncryptedKeyError:
        raise TLSFileError(
            f"the TLS key file {files.key} (--tls-key) is encrypted: give the key unencrypted (e.g. "
            "`openssl pkey -in KEY -out PLAIN`) and protect the file by its permissions"
        ) from None
    except ssl.SSLError as e:
        if e.reason == "KEY_VALUES_MISMATCH":
            raise TLSFileError(
                f"the TLS key file {files.key} (--tls-key) is not the key of the certificate in {files.cert} "
                "(--tls-cert)"
            ) from None
        raise TLSFileError(
            f"cannot load the TLS certificate {files.cert} (--tls-cert) with the key {files.key} (--tls-key): "
            f"{e.reason or e} (are both complete PEM files?)"
        ) from None
    if files.client_ca is not None:
        ca = _read(files.client_ca, "--tls-client-ca", "client CA file")
        try:
            context.load_verify_locations(cadata=ca.decode("ascii", errors="replace"))
        except (ssl.SSLError, ValueError) as e:
            reason = getattr(e, "reason", None) or e
            raise TLSFileError(
                f"the client CA file {files.client_ca} (--tls-client-ca) holds no usable PEM certificate: {reason}"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _signature(paths: tuple[str, ...]) -> tuple[tuple[int, int, int] | None, ...]:
    out: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
            continue
        out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class ServerTLS:
    """The server's TLS context (``context``, for every port), kept up to date with its files (``watch``)."""

    def __init__(self, files: TLSFiles) -> None:
        self.files = files
        self._paths = tuple(p for p in (files.cert, files.key, files.client_ca) if p is not None)
        self._seen = _signature(self._paths)
        #: The context new handshakes end up on (see the module's docstring).
        self.current = build_context(files)
        #: The context the listening sockets were given: the first one, forwarding to ``current``.
        self.context = self.current
        self.context.sni_callback = self._choose
        #: How many reloads succeeded (for tests and logs).
        self.reloads = 0

    def _choose(self, connection: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
        if self.current is not context:
            connection.context = self.current

    def reload(self) -> bool:
        """Build a context from the files as they are now and use it; False (the old one kept, a warning
        logged) if they cannot be used."""
        try:
            fresh = build_context(self.files)
        except TLSFileError as e:
            log.warning("TLS files changed but cannot be used (%s); still serving the previous certificate", e)
            return False
        self.current = fresh
        self.reloads += 1
        log.info("TLS: reloaded the certificate from %s", self.files.cert)
        return True

    async def watch(self, interval: float = POLL_SECONDS) -> None:
        """Reload whenever a file changes, until cancelled."""
        while True:
            await asyncio.sleep(interval)
            seen = _signature(self._paths)
            if seen == self._seen:
                continue
            self._seen = seen
            # Off the event loop: reading the files and parsing the key take a few milliseconds.
            await asyncio.to_thread(self.reload)
