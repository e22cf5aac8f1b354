"""What every command shares: the connection options, output format, and error handling."""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from ..client import Client, resolve_address
from ..errors import MainspringError, RPCError

__all__ = ["connection_options", "echo_json", "fail", "run_async"]

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


def fail(message: str, code: int = 1) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def echo_json(value: Any, *, compact: bool = False) -> None:
    if compact:
        click.echo(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    else:
        click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def run_async(fn: Callable[..., Awaitable[int | None]]) -> Callable[..., None]:
    """Run an async command with a connected client; turn errors into one line and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, address: str | None, namespace: str, **kwargs: Any) -> None:
        async def main() -> int | None:
            client = await Client.connect(resolve_address(address), namespace=namespace)
            try:
                return await fn(client, *args, **kwargs)
            finally:
                await client.close()

        try:
            code = asyncio.run(main())
        except RPCError as e:
            fail(e.message)
        except MainspringError as e:
            fail(str(e))
        except KeyboardInterrupt:
            fail("interrupted", 130)
        sys.exit(code or 0)

    return wrapper
