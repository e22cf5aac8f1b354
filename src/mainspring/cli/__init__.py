"""The ``mainspring`` command line. It talks to the server through the public client only."""

from __future__ import annotations

import json
import sys

import click

from .._version import __version__
from ._activity import activity
from ._batch import batch
from ._cluster import cluster
from ._codec_server import codec_server
from ._common import EXIT_CODES_HELP, EXIT_INTERRUPTED
from ._namespace import namespace
from ._operator import operator
from ._schedule import schedule
from ._server import server
from ._store import store
from ._task_queue import task_queue
from ._workflow import workflow

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="mainspring")
def cli() -> None:
    """Mainspring: durable workflows for Python."""


cli.add_command(server)
cli.add_command(workflow)
cli.add_command(namespace)
cli.add_command(activity)
cli.add_command(task_queue)
cli.add_command(store)
cli.add_command(cluster)
cli.add_command(operator)
# Temporal's CLI spells it `temporal operator namespace create`: the same group, under both names.
operator.add_command(namespace)
cli.add_command(codec_server)
cli.add_command(schedule)
cli.add_command(batch)


def _json_output(argv: list[str]) -> bool:
    """Whether ``argv`` asks for ``-o json`` (read before click parses it: for its usage errors)."""
    for i, arg in enumerate(argv):
        if arg in ("-o", "--output") and argv[i + 1 : i + 2] == ["json"]:
            return True
        if arg in ("-ojson", "--output=json"):
            return True
    return False


def main() -> None:
    argv = sys.argv[1:]
    if not _json_output(argv):
        cli()
        return
    # Under -o json a script reads errors as JSON, click's own (usage errors, exit 2) included.
    try:
        code = cli.main(argv, standalone_mode=False)
    except click.ClickException as e:
        click.echo(json.dumps({"code": "usage_error", "message": e.format_message()}, ensure_ascii=False), err=True)
        sys.exit(e.exit_code)
    except click.Abort:
        click.echo(json.dumps({"code": "interrupted", "message": "aborted"}), err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)
