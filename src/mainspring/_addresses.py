"""Server addresses: one, or a list to fail over between (``a:7233,b:7233``), checked before use.

Free of heavy imports: the CLI checks ``--address`` before it loads anything else.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ._answers import DEFAULT_ADDRESS
from .errors import InvalidAddressError

__all__ = ["DEFAULT_ADDRESS", "address_problem", "parse_addresses"]


def address_problem(address: str) -> str | None:
    """An error message if ``address`` is not HOST:PORT or an http(s) URL, else None."""
    from urllib.parse import urlsplit  # (here: the CLI's start-up does not pay for it)

    text = address.strip()
    url = text if "://" in text else "http://" + text
    problem = None
    try:
        parts = urlsplit(url)
        port = parts.port
        if parts.scheme not in ("http", "https"):
            problem = f"scheme {parts.scheme!r} is not supported"
        elif not parts.hostname:
            problem = "it has no host"
        elif port is None and "://" not in text:
            problem = "it has no port"
        elif parts.query or parts.fragment or parts.path.strip("/"):
            problem = "it has a path"
        elif any(c.isspace() for c in text):
            problem = "it contains whitespace"
    except ValueError as e:
        problem = str(e)
    if problem:
        return (
            f"invalid server address {address!r} ({problem}); use HOST:PORT, e.g. localhost:7233, "
            "or a URL such as http://localhost:7233"
        )
    return None


def parse_addresses(value: str | Sequence[str] | None) -> list[str]:
    """The addresses to use, in order: ``value`` (one address, a comma-separated list, or a list), else
    ``$MAINSPRING_ADDRESS`` (the same forms), else localhost:7233.

    Raises ``InvalidAddressError`` (also a ``ValueError``) naming the first bad item: an empty one
    (``a:7233,,b:7233``), a bad port, a path...
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        value = os.environ.get("MAINSPRING_ADDRESS") or DEFAULT_ADDRESS
    if isinstance(value, str):
        items = value.split(",")
    else:
        items = list(value)
        if not items:
            raise InvalidAddressError("no server address given: pass at least one HOST:PORT", code="invalid_argument")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidAddressError(
                f"a server address must be a string, got {type(item).__name__} {item!r}", code="invalid_argument"
            )
        text = item.strip()
        if not text:
            raise InvalidAddressError(
                f"empty server address in {','.join(items)!r}: separate addresses with single commas, "
                "e.g. a:7233,b:7233",
                code="invalid_argument",
            )
        problem = address_problem(text)
        if problem:
            raise InvalidAddressError(problem, code="invalid_argument")
        if text not in out:
            out.append(text)
    return out
