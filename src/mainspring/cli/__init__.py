"""The ``mainspring`` command line. It talks to the server through the public client only."""

from __future__ import annotations

import click

from .._version import __version__
from ._common import EXIT_CODES_HELP
from ._namespace import namespace
from ._server import server
from ._workflow import workflow

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="mainspring")
def cli() -> None:
    """Mainspring: durable workflows for Python."""


cli.add_command(server)
cli.add_command(workflow)
cli.add_command(namespace)


def main() -> None:
    cli()
