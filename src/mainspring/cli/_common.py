"""What every command shares: the connection options, output format, and error handling."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

from ..api.names import check_namespace
from ..client import Client, resolve_address
from ..errors import MainspringError, RPCError

__all__ = ["check_address", "connection_options", "echo_json", "explain", "fail", "run_async"]

F = TypeVar("F", bound=Callable[..., Any])


def connection_options(fn: F) -> F:
    """--address, --namespace and --output, on every command that talks to a server."""
    fn = click.option(
        "-o",
        "--output",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="Output format; json is for scripts.",
    )(fn)
    fn = click.option(
        "-n",
        "--namespace",
        default="default",
        show_default=True,
        envvar="MAINSPRING_NAMESPACE",
        help="Namespace of the workflows.",
    )(fn)
    fn = click.option(
        "--address",
        envvar="MAINSPRING_ADDRESS",
        default=None,
        metavar="HOST:PORT",
        help="Server address [env: MAINSPRING_ADDRESS; default: localhost:7233].",
    )(fn)
    return fn


#: What the CLI adds to a server's error, by its code: the command or option that gets past it. The
#: server says what is wrong in the API's terms; the way out from a shell is the CLI's to say.
_HINTS: dict[str, Callable[[str], str]] = {
    "namespace_not_found": lambda namespace: f"create it with `mainspring namespace create {namespace}`",
    "already_started": lambda namespace: "choose another --workflow-id or wait for that run to close",
}

#: Every error exits 1 (click's own usage errors exit 2, an interrupted command 130); a code that should
#: exit otherwise goes here.
_EXIT_CODES: dict[str, int] = {}


def explain(e: MainspringError, namespace: str) -> tuple[str, int]:
    """The line the CLI prints for ``e`` (on a command run in ``namespace``), and the exit status."""
    if not isinstance(e, RPCError):
        return str(e), 1
    message = e.message
    hint = _HINTS.get(e.code)
    if hint is not None:
        text = hint(namespace)
        if text not in message:  # the server may say it already
            message = f"{message} ({text})"
    return message, _EXIT_CODES.get(e.code, 1)


def fail(message: str, code: int = 1) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def check_address(address: str) -> str | None:
    """Return an error message if ``address`` is not HOST:PORT or an http(s) URL, else None."""
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


def echo_json(value: Any, *, compact: bool = False) -> None:
    if compact:
        click.echo(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    else:
        click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def run_async(fn: Callable[..., Awaitable[int | None]]) -> Callable[..., None]:
    """Run an async command with a connected client; turn errors into one line and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, address: str | None, namespace: str, **kwargs: Any) -> None:
        resolved = resolve_address(address)
        problem = check_address(resolved) or check_namespace(namespace)
        if problem:
            fail(problem)

        async def main() -> int | None:
            # One call or two: plain HTTP requests cost less than opening a channel.
            client = await Client.connect(resolved, namespace=namespace, channel=False)
            try:
                return await fn(client, *args, **kwargs)
            finally:
                await client.close()

        try:
            code = asyncio.run(main())
        except MainspringError as e:
            fail(*explain(e, namespace))
        except KeyboardInterrupt:
            fail("interrupted", 130)
        sys.exit(code or 0)

    return wrapper
