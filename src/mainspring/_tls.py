"""TLS pieces the server, the SDK and the CLI share: loading a certificate chain given as PEM bytes, and
what a failed handshake means, worded as a ``TLSError`` that says how to fix it.

Free of heavy imports (``ssl`` is loaded by the functions that need it): the CLI imports this module.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .errors import InvalidArgumentError, MainspringError, TLSError

if TYPE_CHECKING:
    import ssl

__all__ = [
    "CLIENT_CERT_HINT",
    "TRUST_HINT",
    "EncryptedKeyError",
    "client_context",
    "diagnose",
    "load_cert_chain",
    "no_passphrase",
    "read_file",
    "refused_after_handshake",
    "speaks_tls",
    "tls_failure",
    "tls_required",
]

#: How to give a client the CA that signed the server's certificate (CLI, then SDK).
TRUST_HINT = "pass the CA's certificate with --tls-ca (SDK: TLSConfig(server_root_ca_cert=...))"
#: How to give a client its own certificate.
CLIENT_CERT_HINT = (
    "pass a client certificate and its key with --tls-cert and --tls-key "
    "(SDK: TLSConfig(client_cert=..., client_private_key=...))"
)


class EncryptedKeyError(MainspringError):
    """The private key is encrypted: Mainspring takes unencrypted keys only (it would otherwise block on a
    passphrase prompt on the terminal, which a server or a worker has no one to answer)."""


def no_passphrase() -> bytes:
    """The ``password`` for ``SSLContext.load_cert_chain``: raises ``EncryptedKeyError`` rather than let
    OpenSSL ask for a passphrase on the terminal."""
    raise EncryptedKeyError


def load_cert_chain(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """Load the certificate chain ``cert`` and its private ``key`` (PEM bytes) into ``context``.

    The ``ssl`` module loads a chain only from files (CA certificates it takes as ``cadata``, a chain it
    does not): the bytes go to a directory only this user may open (``mkdtemp`` makes it 0700, the files
    are 0600), are loaded, and are removed at once, so the key is on disk for as long as the call takes.
    Raises ``ssl.SSLError`` for what OpenSSL refuses (not PEM, a key that does not match) and
    ``EncryptedKeyError`` for an encrypted key.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mainspring-tls-") as folder:
        paths = []
        for name, data in (("cert.pem", cert), ("key.pem", key)):
            path = os.path.join(folder, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            paths.append(path)
        context.load_cert_chain(paths[0], paths[1], password=no_passphrase)


def read_file(path: str, flag: str) -> bytes:
    """The bytes of a client's certificate or key file (given by ``flag``); ``InvalidArgumentError`` if
    it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InvalidArgumentError(f"cannot read {path} ({flag}): {e.strerror or e}", code="tls_config") from None


def client_context(ca: bytes | None, cert: bytes | None, key: bytes | None) -> ssl.SSLContext:
    """A client context (TLS 1.2 or later, the server's certificate and name checked) trusting the CA
    certificates ``ca`` (PEM; None: the system's), presenting ``cert`` with its ``key`` if given.

    Raises ``InvalidArgumentError`` (code ``tls_config``) for certificates or a key that cannot be loaded.
    """
    import ssl

    try:
        # With cadata, only those CAs are trusted (not the system's too), as in Temporal's SDK.
        context = ssl.create_default_context(cadata=ca.decode("ascii", errors="replace") if ca is not None else None)
    except (ssl.SSLError, ValueError) as e:
        raise InvalidArgumentError(
            "the server CA certificate (--tls-ca, TLSConfig.server_root_ca_cert) holds no usable PEM certificate: "
            f"{getattr(e, 'reason', None) or e}",
            code="tls_config",
        ) from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None and key is not None:
        try:
            load_cert_chain(context, cert, key)
        except EncryptedKeyError:
            raise InvalidArgumentError(
                "the client key (--tls-key, TLSConfig.client_private_key) is encrypted: give it unencrypted",
                code="tls_config",
            ) from None
        except ssl.SSLError as e:
            why = (
                "the key is not the client certificate's"
                if e.reason == "KEY_VALUES_MISMATCH"
                else f"{e.reason or e} (are they PEM?)"
            )
            raise InvalidArgumentError(
                "cannot load the client certificate (--tls-cert, TLSConfig.client_cert) with its key (--tls-key, "
                f"TLSConfig.client_private_key): {why}",
                code="tls_config",
            ) from None
    return context


def speaks_tls(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether the server at ``host:port`` answers a TLS handshake (blocking; at most ``timeout``).

    Asked only after a plain HTTP request got no answer at all, which is what a TLS server gives one (it
    drops the connection without a word): so the error can say "connect with TLS" instead of "the
    server closed the connection"."""
    import socket
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # Only "is this TLS?" is asked, nothing is sent: the certificate is not what is checked here.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=host),
        ):
            return True
    except ssl.SSLError as e:
        # The server spoke TLS, and ended the handshake with an alert (it wants a client certificate).
        return "ALERT" in (e.reason or "")
    except OSError:
        return False


def refused_after_handshake(address: str, *, client_cert: bool) -> TLSError:
    """The error for a TLS server that completed the handshake, then closed the connection unanswered.

    That is how a server refuses a client certificate, or the lack of one, under TLS 1.3: it checks the
    client's certificate after the client thinks the handshake done, and Python's servers close without
    sending the alert that would say why."""
    where = f"the Mainspring server at {address}"
    if client_cert:
        return TLSError(
            f"{where} closed the connection after the TLS handshake without answering: it refused your client "
            "certificate, which must be signed by a CA the server trusts (its --tls-client-ca)",
            code="tls_client_cert_refused",
        )
    return TLSError(
        f"{where} closed the connection after the TLS handshake without answering: it requires a client "
        f"certificate (mutual TLS); {CLIENT_CERT_HINT}",
        code="tls_client_cert_required",
    )


def diagnose(
    address: str, host: str, port: int, context: ssl.SSLContext, server_hostname: str | None, *, client_cert: bool
) -> TLSError | None:
    """Why a TLS connection to ``host:port`` got no answer, found by trying once more, blocking (at most a
    few seconds): a failed handshake, or a server that closes the connection after it (see
    ``refused_after_handshake``); None if this time it answered, or could not be reached at all."""
    import socket
    import ssl

    name = f"[{host}]" if ":" in host else host
    request = f"GET /api/v1/health HTTP/1.1\r\nHost: {name}:{port}\r\nConnection: close\r\n\r\n".encode("latin-1")
    try:
        sock = socket.create_connection((host, port), timeout=3.0)
    except OSError:
        return None
    with sock:
        try:
            conn = context.wrap_socket(sock, server_hostname=server_hostname or host)
        except ssl.SSLError as e:
            return tls_failure(address, e, client_cert=client_cert)
        except OSError:
            return None
        with conn:
            try:
                conn.sendall(request)
                answered = conn.recv(1) != b""
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError, BrokenPipeError):
                answered = False
            except ssl.SSLError as e:  # an alert after the handshake (a server that sends why)
                return tls_failure(address, e, client_cert=client_cert)
            except OSError:
                return None
    return None if answered else refused_after_handshake(address, client_cert=client_cert)


def tls_required(address: str) -> TLSError:
    """The error for a plain connection to a server that speaks only TLS."""
    return TLSError(
        f"the Mainspring server at {address} speaks only TLS (HTTPS): connect with --tls, or an https:// "
        "address (SDK: Client.connect(..., tls=True), or a TLSConfig)",
        code="tls_required",
    )


# OpenSSL's reasons (``ssl.SSLError.reason``) for a handshake the server ended with an alert, by meaning.
_NEEDS_CLIENT_CERT = frozenset({"TLSV13_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_HANDSHAKE_FAILURE"})
_CLIENT_CERT_REFUSED = frozenset(
    {
        "TLSV1_ALERT_UNKNOWN_CA",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        "TLSV1_ALERT_ACCESS_DENIED",
        "TLSV1_ALERT_DECRYPT_ERROR",
    }
)
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST"})
# X509 verify codes (``ssl.SSLCertVerificationError.verify_code``): no chain to a trusted CA.
_UNTRUSTED = frozenset({2, 18, 19, 20, 21})
_HOSTNAME_MISMATCH = 62
_EXPIRED = 10


def _ssl_error(error: BaseException) -> ssl.SSLError | None:
    """The ``ssl`` module's own exception in ``error``: aiohttp's subclass ssl.SSLError without its fields,
    keeping the original as ``certificate_error`` or ``os_error`` (or as the cause)."""
    import ssl

    found: BaseException | None = error
    for _ in range(6):
        if found is None:
            return None
        if isinstance(found, ssl.SSLError) and type(found).__module__ == "ssl":
            return found
        found = getattr(found, "certificate_error", None) or getattr(found, "os_error", None) or found.__cause__
    return None


def tls_failure(address: str, error: BaseException, *, client_cert: bool) -> TLSError | None:
    """The ``TLSError`` a failed handshake with ``address`` stands for (``error``: the ``ssl`` module's
    exception, or one that has it as its cause), or None if ``error`` is not about TLS.

    ``client_cert``: whether the client offered a certificate of its own (an alert then says it was
    refused, rather than missing).
    """
    import ssl

    found = _ssl_error(error)
    if found is None:
        return None
    where = f"the Mainspring server at {address}"
    if isinstance(found, ssl.SSLCertVerificationError):
        why = found.verify_message or str(found)
        if found.verify_code in _UNTRUSTED:
            return TLSError(
                f"the certificate of {where} is not signed by a CA you trust ({why}): {TRUST_HINT}",
                code="tls_untrusted",
            )
        if found.verify_code == _HOSTNAME_MISMATCH:
            return TLSError(
                f"the certificate of {where} is not for the name you connected to ({why}): connect with a name "
                "it is for, or pass the name it is for with --tls-server-name (SDK: TLSConfig(domain=...))",
                code="tls_hostname",
            )
        if found.verify_code == _EXPIRED:
            return TLSError(f"the certificate of {where} has expired: its operator must renew it", code="tls_untrusted")
        return TLSError(f"the certificate of {where} was refused: {why}", code="tls_untrusted")
    reason = found.reason or ""
    if reason in _NEEDS_CLIENT_CERT and not client_cert:
        return TLSError(
            f"{where} requires a client certificate (mutual TLS): {CLIENT_CERT_HINT}", code="tls_client_cert_required"
        )
    # (A handshake_failure alert to a client that did offer a certificate may be about anything, ciphers
    # included: it falls through to the general error.)
    if reason in _CLIENT_CERT_REFUSED or reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED":
        return TLSError(
            f"{where} refused your client certificate ({reason.lower()}): it must be signed by a CA the server "
            "trusts (its --tls-client-ca)",
            code="tls_client_cert_refused",
        )
    if reason in _NOT_TLS:
        return TLSError(
            f"{where} does not speak TLS (it answered in plain HTTP): drop --tls and use an http:// address "
            "(SDK: tls=False), or start the server with --tls-cert and --tls-key",
            code="tls_not_offered",
        )
    return TLSError(f"no secure connection to {where}: {found}", code="tls_error")
