"""What every command shares: the connection options, output format, and error handling."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from .._addresses import address_problem, parse_addresses
from ..api.names import check_namespace
from ..errors import (
    InvalidAddressError,
    InvalidArgumentError,
    MainspringError,
    NotFoundError,
    PayloadTooLargeError,
    RPCError,
    ServerUnavailableError,
    WorkflowFailureError,
)

if TYPE_CHECKING:
    from ..client import Client

# The SDK's client (asyncio, aiohttp, pydantic) is imported by the commands that use it, when they run:
# `mainspring --help` and the one-request commands (run_sync) start in a fraction of its import time.

__all__ = [
    "EXIT_CODES_HELP",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID",
    "EXIT_NOT_FOUND",
    "EXIT_UNREACHABLE",
    "EXIT_WORKFLOW_FAILED",
    "TLSFlags",
    "check_address",
    "connection_options",
    "echo_json",
    "exit_code",
    "explain",
    "fail",
    "run_async",
    "run_sync",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Exit statuses, so a script can tell what went wrong without reading the message.
EXIT_ERROR = 1
EXIT_INVALID = 2
EXIT_NOT_FOUND = 3
EXIT_UNREACHABLE = 4
EXIT_WORKFLOW_FAILED = 5
EXIT_INTERRUPTED = 130

#: The exit statuses, as `mainspring --help` lists them (the README's CLI section says the same).
EXIT_CODES_HELP = f"""\b
Exit status:
  0    it worked
  {EXIT_ERROR}    any other error (e.g. a workflow id already running, a --timeout that passed)
  {EXIT_INVALID}    invalid input: a usage error, bad JSON in --input/--input-file, a value the server refused
  {EXIT_NOT_FOUND}    not found: no such workflow, run or namespace
  {EXIT_UNREACHABLE}    server unreachable: nothing answers, not in time, or not a Mainspring server
  {EXIT_WORKFLOW_FAILED}    the workflow failed: it ended FAILED, CANCELED, TERMINATED or TIMED_OUT
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C)
With -o json, errors are printed on stderr as JSON too: {{"code": ..., "message": ...}}."""


@dataclass(frozen=True)
class TLSFlags:
    """The TLS options of a command that talks to a server (``--tls``, ``--tls-ca``, ...)."""

    #: PEM file of the CA certificate(s) that sign the server's certificate; None: the system's CAs.
    ca: str | None = None
    #: PEM files of a client certificate and its key (mutual TLS).
    cert: str | None = None
    key: str | None = None
    #: The name the server's certificate must be for, when it is not the address's host.
    server_name: str | None = None

    @classmethod
    def pop(cls, kwargs: dict[str, Any]) -> TLSFlags | None:
        """The TLS options, taken out of a command's ``kwargs``; None for a plain connection."""
        on = bool(kwargs.pop("tls"))
        flags = cls(
            ca=kwargs.pop("tls_ca"),
            cert=kwargs.pop("tls_cert"),
            key=kwargs.pop("tls_key"),
            server_name=kwargs.pop("tls_server_name"),
        )
        if not (on or flags.ca or flags.cert or flags.key or flags.server_name):
            return None
        if (flags.cert is None) != (flags.key is None):
            fail("--tls-cert and --tls-key go together: a client certificate and its private key", EXIT_INVALID)
        return flags


def _tls_options(fn: F) -> F:
    # Temporal's CLI spells the files --tls-ca-path, --tls-cert-path and --tls-key-path: accepted too.
    options = [
        click.option(
            "--tls-server-name",
            envvar="MAINSPRING_TLS_SERVER_NAME",
            default=None,
            metavar="NAME",
            help="Check the server's certificate against NAME instead of the address's host.",
        ),
        click.option(
            "--tls-key",
            "--tls-key-path",
            "tls_key",
            envvar="MAINSPRING_TLS_KEY",
            default=None,
            metavar="PATH",
            help="Private key (PEM, unencrypted) of --tls-cert [env: MAINSPRING_TLS_KEY].",
        ),
        click.option(
            "--tls-cert",
            "--tls-cert-path",
            "tls_cert",
            envvar="MAINSPRING_TLS_CERT",
            default=None,
            metavar="PATH",
            help="Client certificate (PEM) for a server that requires one (mutual TLS) [env: MAINSPRING_TLS_CERT].",
        ),
        click.option(
            "--tls-ca",
            "--tls-ca-path",
            "tls_ca",
            envvar="MAINSPRING_TLS_CA",
            default=None,
            metavar="PATH",
            help="CA certificate(s) (PEM) that sign the server's certificate, trusted instead of the system's "
            "[env: MAINSPRING_TLS_CA].",
        ),
        click.option(
            "--tls",
            is_flag=True,
            envvar="MAINSPRING_TLS",
            help="Connect with TLS (HTTPS); implied by any other --tls-* option and by an https:// address "
            "[env: MAINSPRING_TLS].",
        ),
    ]
    for option in options:
        fn = option(fn)
    return fn


def connection_options(fn: F) -> F:
    """--address, the TLS options, --namespace and --output, on every command that talks to a server."""
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
    fn = _tls_options(fn)
    fn = click.option(
        "--api-key",
        envvar="MAINSPRING_API_KEY",
        default=None,
        metavar="KEY",
        help="API key, for a server that checks who calls (server start --auth api-key) [env: MAINSPRING_API_KEY].",
    )(fn)
    fn = click.option(
        "--address",
        envvar="MAINSPRING_ADDRESS",
        default=None,
        metavar="HOST:PORT[,HOST:PORT...]",
        help="Server address, or several separated by commas to fail over between "
        "[env: MAINSPRING_ADDRESS; default: localhost:7233].",
    )(fn)
    return fn


#: What the CLI adds to a server's error, by its code: the command or option that gets past it. The
#: server says what is wrong in the API's terms; the way out from a shell is the CLI's to say.
_HINTS: dict[str, Callable[[str], str]] = {
    "namespace_not_found": lambda namespace: f"create it with `mainspring namespace create {namespace}`",
    "already_started": lambda namespace: "choose another --workflow-id or wait for that run to close",
}


def exit_code(e: MainspringError) -> int:
    """The exit status for ``e`` (see ``EXIT_CODES_HELP``)."""
    if isinstance(e, ServerUnavailableError):  # 429 and 503 included: the server cannot serve now
        return EXIT_UNREACHABLE
    if isinstance(e, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(e, InvalidArgumentError | PayloadTooLargeError):
        return EXIT_INVALID
    if isinstance(e, WorkflowFailureError):
        return EXIT_WORKFLOW_FAILED
    return EXIT_ERROR


def explain(e: MainspringError, namespace: str) -> tuple[str, int]:
    """The line the CLI prints for ``e`` (on a command run in ``namespace``), and the exit status."""
    if not isinstance(e, RPCError):
        return str(e), exit_code(e)
    message = e.message
    hint = _HINTS.get(e.code)
    if hint is not None:
        text = hint(namespace)
        if text not in message:  # the server may say it already
            message = f"{message} ({text})"
    return message, exit_code(e)


def _json_output() -> bool:
    """Whether the running command was given ``-o json``."""
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("output") == "json":
            return True
        ctx = ctx.parent
    return False


def fail(message: str, code: int = EXIT_ERROR, *, error: str | None = None, details: Any = None) -> NoReturn:
    """Print ``message`` on stderr (``Error: ...``, or a JSON object under ``-o json``) and exit ``code``.

    ``error`` is the code a script can match (the server's, where it gave one)."""
    if _json_output():
        body: dict[str, Any] = {"code": error or _ERROR_NAMES.get(code, "error"), "message": message}
        if details is not None:
            body["details"] = details
        click.echo(json.dumps(body, ensure_ascii=False), err=True)
    else:
        click.echo(f"Error: {message}", err=True)
    sys.exit(code)


#: The JSON error code of a failure found by the CLI itself, by its exit status.
_ERROR_NAMES = {
    EXIT_INVALID: "invalid_argument",
    EXIT_NOT_FOUND: "not_found",
    EXIT_UNREACHABLE: "unavailable",
    EXIT_WORKFLOW_FAILED: "workflow_failed",
    EXIT_INTERRUPTED: "interrupted",
}


def _fail_with(e: MainspringError, namespace: str) -> NoReturn:
    message, code = explain(e, namespace)
    if isinstance(e, RPCError):
        fail(message, code, error=e.code, details=e.details)
    fail(message, code)


def check_address(address: str) -> str | None:
    """Return an error message if ``address`` is not HOST:PORT or an http(s) URL, else None."""
    return address_problem(address)


def echo_json(value: Any, *, compact: bool = False) -> None:
    if compact:
        click.echo(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    else:
        click.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _checked_address(address: str | None, namespace: str) -> list[str]:
    """The addresses ``--address`` (or ``$MAINSPRING_ADDRESS``) lists, in order; a one-line error if any is bad."""
    try:
        resolved = parse_addresses(address)
    except InvalidAddressError as e:
        fail(e.message, EXIT_INVALID)
    problem = check_namespace(namespace)
    if problem:
        fail(problem, EXIT_INVALID)
    return resolved


def _checked_key(api_key: str | None) -> str | None:
    """The API key to send (None: none); a one-line error if it cannot be one (an HTTP header is one line)."""
    if api_key is None or not api_key.strip():
        return None
    if any(c in api_key for c in "\r\n\0"):
        fail("--api-key must be one line (is it the key, and nothing else?)", EXIT_INVALID)
    return api_key.strip()


def run_sync(fn: Callable[..., int | None]) -> Callable[..., None]:
    """Run a command that makes plain requests (``Api``); turn errors into one line and an exit status."""

    @functools.wraps(fn)
    def wrapper(*args: Any, address: str | None, namespace: str, api_key: str | None, **kwargs: Any) -> None:
        from ._http import Api

        tls = TLSFlags.pop(kwargs)
        resolved = _checked_address(address, namespace)
        key = _checked_key(api_key)
        try:
            code = fn(Api(resolved, namespace, tls=tls, api_key=key), *args, **kwargs)
        except MainspringError as e:
            _fail_with(e, namespace)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)
        sys.exit(code or 0)

    return wrapper


def _echo_warnings() -> None:
    """Print the client's warnings (a run stuck on a failing workflow task, say) on stderr, as
    ``Warning: ...`` lines, or JSON objects under ``-o json``."""
    import logging

    class Echo(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if _json_output():
                click.echo(json.dumps({"warning": message}, ensure_ascii=False), err=True)
            else:
                click.echo(f"Warning: {message}", err=True)

    logger = logging.getLogger("mainspring.client")
    logger.addHandler(Echo(logging.WARNING))
    logger.propagate = False


def run_async(fn: Callable[..., Awaitable[int | None]]) -> Callable[..., None]:
    """Run an async command with a connected client; turn errors into one line and an exit status."""

    @functools.wraps(fn)
    def wrapper(*args: Any, address: str | None, namespace: str, api_key: str | None, **kwargs: Any) -> None:
        resolved = _checked_address(address, namespace)
        key = _checked_key(api_key)
        flags = TLSFlags.pop(kwargs)
        import asyncio

        from ..client import Client, TLSConfig
        from ..client._tls import tls_from_files

        _echo_warnings()

        async def main() -> int | None:
            tls: TLSConfig | bool = False  # (not None: the options have read MAINSPRING_TLS* already)
            if flags is not None:
                tls = tls_from_files(ca=flags.ca, cert=flags.cert, key=flags.key, domain=flags.server_name)
            # One call or two: plain HTTP requests cost less than opening a channel.
            client: Client = await Client.connect(
                resolved, namespace=namespace, channel=False, tls=tls, api_key=key or ""
            )
            try:
                return await fn(client, *args, **kwargs)
            finally:
                await client.close()

        try:
            code = asyncio.run(main())
        except MainspringError as e:
            _fail_with(e, namespace)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)
        sys.exit(code or 0)

    return wrapper
