"""TLS for a client's connections (and so its workers'): ``TLSConfig``, shaped like Temporal's so code ports,
and the ``ssl.SSLContext`` it makes."""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass

from .._tls import client_context as _client_context
from .._tls import read_file as _read_file
from ..errors import InvalidArgumentError

__all__ = ["TLSConfig", "client_context", "tls_from_env", "tls_from_files"]


@dataclass(frozen=True)
class TLSConfig:
    """How a client connects with TLS: ``Client.connect(address, tls=TLSConfig(...))``.

    ``tls=True`` is ``TLSConfig()``: the server's certificate must be signed by a CA the system trusts.
    All certificates and keys are PEM bytes (``Path("ca.pem").read_bytes()``).
    """

    #: CA certificate(s) that sign the server's certificate, trusted instead of the system's; None: the system's.
    server_root_ca_cert: bytes | None = None
    #: The name the server's certificate must be for, when it is not the address's host (and the SNI sent).
    domain: str | None = None
    #: This client's certificate (chain), for a server that requires one (mutual TLS); with its key.
    client_cert: bytes | None = None
    #: The unencrypted private key of ``client_cert``.
    client_private_key: bytes | None = None

    def __post_init__(self) -> None:
        if (self.client_cert is None) != (self.client_private_key is None):
            given, missing = "client_cert", "client_private_key"
            if self.client_cert is None:
                given, missing = missing, given
            raise InvalidArgumentError(
                f"TLSConfig got {given} without {missing}: a client certificate needs its private key "
                "(CLI: --tls-cert with --tls-key)",
                code="tls_config",
            )


def client_context(tls: TLSConfig) -> ssl.SSLContext:
    """The client context ``tls`` describes (TLS 1.2 or later, the server's certificate and name checked).

    Raises ``InvalidArgumentError`` (code ``tls_config``) for certificates or a key that cannot be loaded.
    """
    return _client_context(tls.server_root_ca_cert, tls.client_cert, tls.client_private_key)


def tls_from_files(
    *, ca: str | None = None, cert: str | None = None, key: str | None = None, domain: str | None = None
) -> TLSConfig:
    """A ``TLSConfig`` from PEM files (the CLI's ``--tls-ca``, ``--tls-cert``, ``--tls-key``)."""
    if (cert is None) != (key is None):
        raise InvalidArgumentError(
            "--tls-cert needs --tls-key (and --tls-key needs --tls-cert): a client certificate and its key",
            code="tls_config",
        )
    return TLSConfig(
        server_root_ca_cert=_read_file(ca, "--tls-ca") if ca else None,
        domain=domain or None,
        client_cert=_read_file(cert, "--tls-cert") if cert else None,
        client_private_key=_read_file(key, "--tls-key") if key else None,
    )


_TRUE = frozenset({"1", "true", "yes", "on"})


def tls_from_env() -> TLSConfig | None:
    """TLS as ``MAINSPRING_TLS`` (1/true), ``MAINSPRING_TLS_CA``, ``MAINSPRING_TLS_CERT``, ``MAINSPRING_TLS_KEY``
    and ``MAINSPRING_TLS_SERVER_NAME`` say, the variables the CLI reads too; None if none is set (or
    ``MAINSPRING_TLS`` is false and no file is named)."""
    env = os.environ
    ca, cert, key = (env.get(f"MAINSPRING_TLS_{n}") or None for n in ("CA", "CERT", "KEY"))
    on = env.get("MAINSPRING_TLS", "").strip().lower() in _TRUE
    if not (on or ca or cert or key):
        return None
    return tls_from_files(ca=ca, cert=cert, key=key, domain=env.get("MAINSPRING_TLS_SERVER_NAME"))
