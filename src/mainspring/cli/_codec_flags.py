"""``--codec-endpoint URL`` of the commands that print payloads (``workflow describe``, ``show``, ``result``).

Payloads a codec encoded are printed as the server stores them (``{"$payload": ...}``), with a note on
stderr saying so; with a codec server (``mainspring codec-server``, next to the keys), they are decoded
through its ``/decode`` first. The CLI never holds a key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["codec_endpoint_option", "decoded", "note_encoded", "remote_wire_codec"]

F = TypeVar("F", bound=Callable[..., Any])


def codec_endpoint_option(fn: F) -> F:
    """The ``--codec-endpoint`` option (``$MAINSPRING_CODEC_ENDPOINT``)."""
    return click.option(
        "--codec-endpoint",
        envvar="MAINSPRING_CODEC_ENDPOINT",
        default=None,
        metavar="URL",
        help="Decode encoded payloads through this codec server (mainspring codec-server) "
        "[env: MAINSPRING_CODEC_ENDPOINT]; without it they are printed as stored.",
    )(fn)


def remote_wire_codec(endpoint: str, namespace: str, api_key: str | None = None) -> Any:
    """A ``WireCodec`` over the codec server at ``endpoint`` (the command's API key goes with each call)."""
    from .._codec import RemoteCodec, WireCodec

    return WireCodec(RemoteCodec(endpoint, namespace=namespace, api_key=api_key))


def note_encoded(data: Any) -> None:
    """Say on stderr that ``data`` holds encoded payloads, if it does, and how to decode them."""
    from .._payload_mark import encoding_of, marks_in

    marks = marks_in(data)
    if not marks:
        return
    encodings = sorted({encoding_of(m) or "unknown" for m in marks})
    click.echo(
        f"Note: {len(marks)} payload(s) are encoded by a payload codec ({', '.join(encodings)}) and shown as "
        "stored; pass --codec-endpoint URL (a `mainspring codec-server`) to decode them.",
        err=True,
    )


def decoded(data: Any, endpoint: str | None, namespace: str, api_key: str | None = None) -> Any:
    """``data`` with its encoded payloads decoded through ``endpoint`` (blocking); without one, ``data``
    as it is, noted (``note_encoded``)."""
    if endpoint is None:
        note_encoded(data)
        return data
    from .._payload_mark import marks_in

    if not marks_in(data):
        return data  # nothing to decode: no need for asyncio and aiohttp
    import asyncio

    return asyncio.run(remote_wire_codec(endpoint, namespace, api_key).decode_body(data))
